import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Sha256 } from '@smithy/core/checksum';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';

/*
 * A stand-in for an AppSync Event API on 127.0.0.1: the HTTP publish endpoint (POST /event) and the
 * realtime WebSocket endpoint (/event/realtime) speaking the Events protocol (connection_init,
 * connection_ack, subscribe, subscribe_success, ka, data). It checks IAM authorization the way
 * the service does: it recomputes each SigV4 signature from the credentials it was given and the
 * body the protocol says was signed, and refuses a mismatch. The WebSocket framing is the minimum
 * RFC 6455 asks of a server (text frames, close, ping), so the test needs no WebSocket package.
 */

export interface StandInOptions {
  /** The credentials a valid signature is made with (the subscriber's and the publisher's). */
  readonly credentials: AwsCredentialIdentity;
  readonly region: string;
  /** Sent in connection_ack: the longest silence the client should tolerate. */
  readonly connectionTimeoutMs?: number;
  /** How often `ka` is sent to each connection. */
  readonly keepAliveIntervalMs?: number;
}

interface Connection {
  readonly socket: Duplex;
  readonly subscriptions: Map<string, string>;
  keepAlive?: NodeJS.Timeout;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export class AppSyncEventsStandIn {
  /** Every upgrade request's subprotocols and decoded auth header, accepted or not. */
  readonly handshakes: { protocols: string[]; header: Record<string, string> | undefined }[] = [];
  /** Subscriptions accepted, in order (a reconnecting client adds one each time). */
  readonly subscribed: { channel: string; authorization: Record<string, string> }[] = [];
  /** Why a connection, subscription or publish was refused. */
  readonly refusals: string[] = [];
  /** Events published over HTTP and accepted. */
  readonly published: string[] = [];
  /** While false, no `ka` is sent (to test the client's keep-alive timeout). */
  sendKeepAlives = true;

  private readonly server = http.createServer((req, res) => void this.onRequest(req, res));
  private readonly connections = new Set<Connection>();
  private readonly verifier: SignatureV4;

  private constructor(private readonly options: StandInOptions) {
    this.verifier = new SignatureV4({
      service: 'appsync',
      region: options.region,
      credentials: options.credentials,
      sha256: Sha256,
      applyChecksum: false,
    });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => void this.onUpgrade(req, socket));
  }

  static async start(options: StandInOptions): Promise<AppSyncEventsStandIn> {
    const standIn = new AppSyncEventsStandIn(options);
    await new Promise<void>((resolve) => standIn.server.listen(0, '127.0.0.1', resolve));
    return standIn;
  }

  get host(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** What STREAM_EVENTS_URL names. */
  get realtimeUrl(): URL {
    return new URL(`ws://${this.host}/event/realtime`);
  }

  /** What the publisher posts to. */
  get httpUrl(): URL {
    return new URL(`http://${this.host}/event`);
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** Sends each event (a JSON string, as published) to every subscription of `channel`, as AppSync does. */
  broadcast(channel: string, events: string[]): void {
    for (const connection of this.connections)
      for (const [id, subscribed] of connection.subscriptions)
        if (subscribed === channel) for (const event of events) this.send(connection, { type: 'data', id, event });
  }

  /** Cuts every connection without a close frame, as a network failure would. */
  drop(): void {
    for (const connection of this.connections) this.forget(connection, true);
  }

  async stop(): Promise<void> {
    this.drop();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** A refusal reason, or undefined when `headers` carry a valid SigV4 signature of a POST of `body` to /event. */
  private async verify(headers: Record<string, string>, body: string): Promise<string | undefined> {
    const authorization = headers.authorization ?? headers.Authorization;
    const match =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/appsync\/aws4_request, SignedHeaders=([^,]+), Signature=[0-9a-f]{64}$/.exec(
        authorization ?? '',
      );
    if (!match) return `no SigV4 Authorization: ${JSON.stringify(authorization)}`;
    const [, keyId, , region, signedHeaders] = match;
    if (keyId !== this.options.credentials.accessKeyId) return `signed by ${keyId}`;
    if (region !== this.options.region) return `signed for ${region}`;
    const token = this.options.credentials.sessionToken;
    if (token !== undefined && headers['x-amz-security-token'] !== token) return 'no x-amz-security-token';
    if (headers.host !== this.host) return `signed for host ${headers.host}`;
    const date = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(headers['x-amz-date'] ?? '');
    if (!date) return 'no x-amz-date';
    const signed = Object.fromEntries((signedHeaders as string).split(';').map((name) => [name, headers[name] ?? '']));
    const expected = await this.verifier.sign(
      new HttpRequest({
        method: 'POST',
        protocol: 'https:',
        hostname: this.host,
        path: '/event',
        headers: signed,
        body,
      }),
      { signingDate: new Date(`${date[1]}-${date[2]}-${date[3]}T${date[4]}:${date[5]}:${date[6]}Z`) },
    );
    return expected.headers.authorization === authorization ? undefined : 'signature does not match';
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
    const refusal =
      req.method !== 'POST' || req.url !== '/event' ? `${req.method} ${req.url}` : await this.verify(headers, body);
    if (refusal) {
      this.refusals.push(`publish: ${refusal}`);
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end('{"errors":[{"errorType":"UnauthorizedException"}]}');
      return;
    }
    const { channel, events } = JSON.parse(body) as { channel: string; events: string[] };
    this.published.push(...events);
    this.broadcast(channel, events);
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ successful: events.map((_, index) => ({ index })), failed: [] }));
  }

  private async onUpgrade(req: http.IncomingMessage, socket: Duplex): Promise<void> {
    // A client that gives up (a reset while its signature is checked) must not crash the test process.
    socket.on('error', () => socket.destroy());
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const headerProtocol = protocols.find((p) => p.startsWith('header-'));
    let header: Record<string, string> | undefined;
    try {
      header = headerProtocol
        ? (JSON.parse(Buffer.from(headerProtocol.slice('header-'.length), 'base64url').toString()) as Record<
            string,
            string
          >)
        : undefined;
    } catch {
      header = undefined;
    }
    this.handshakes.push({ protocols, header });
    const refusal =
      req.url !== '/event/realtime'
        ? `path ${req.url}`
        : !protocols.includes('aws-appsync-event-ws')
          ? 'no aws-appsync-event-ws subprotocol'
          : !header
            ? 'no header- subprotocol'
            : await this.verify(header, '{}');
    if (refusal) {
      this.refusals.push(`connect: ${refusal}`);
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    const accept = createHash('sha1')
      .update(`${String(req.headers['sec-websocket-key'])}${WS_GUID}`)
      .digest('base64');
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: aws-appsync-event-ws\r\n\r\n`,
    );
    const connection: Connection = { socket, subscriptions: new Map() };
    this.connections.add(connection);
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (let frame = readFrame(buffer); frame; frame = readFrame(buffer)) {
        buffer = buffer.subarray(frame.length);
        if (frame.opcode === 0x8) return this.forget(connection, false);
        if (frame.opcode === 0x9) socket.write(encodeFrame(0xa, frame.payload));
        if (frame.opcode === 0x1) void this.onMessage(connection, frame.payload.toString('utf8'));
      }
    });
    socket.on('close', () => this.forget(connection, true));
  }

  private async onMessage(connection: Connection, text: string): Promise<void> {
    const message = JSON.parse(text) as {
      type: string;
      id?: string;
      channel?: string;
      authorization?: Record<string, string>;
    };
    if (message.type === 'connection_init') {
      this.send(connection, {
        type: 'connection_ack',
        connectionTimeoutMs: this.options.connectionTimeoutMs ?? 300_000,
      });
      connection.keepAlive = setInterval(() => {
        if (this.sendKeepAlives) this.send(connection, { type: 'ka' });
      }, this.options.keepAliveIntervalMs ?? 60_000);
      return;
    }
    if (message.type === 'subscribe' && message.id && message.channel) {
      const refusal = message.authorization
        ? await this.verify(message.authorization, JSON.stringify({ channel: message.channel }))
        : 'no authorization';
      if (refusal) {
        this.refusals.push(`subscribe: ${refusal}`);
        this.send(connection, {
          type: 'subscribe_error',
          id: message.id,
          errors: [{ errorType: 'UnauthorizedException', message: refusal }],
        });
        return;
      }
      connection.subscriptions.set(message.id, message.channel);
      this.subscribed.push({ channel: message.channel, authorization: message.authorization! });
      this.send(connection, { type: 'subscribe_success', id: message.id });
    }
  }

  private send(connection: Connection, message: unknown): void {
    if (!connection.socket.destroyed) connection.socket.write(encodeFrame(0x1, Buffer.from(JSON.stringify(message))));
  }

  private forget(connection: Connection, abrupt: boolean): void {
    if (!this.connections.delete(connection)) return;
    clearInterval(connection.keepAlive);
    if (abrupt) connection.socket.destroy();
    else connection.socket.end(encodeFrame(0x8, Buffer.alloc(0)));
  }
}

/** One complete client frame at the start of `buffer` (clients always mask), or undefined if more bytes are needed. */
function readFrame(buffer: Buffer): { opcode: number; payload: Buffer; length: number } | undefined {
  if (buffer.length < 2) return undefined;
  const opcode = (buffer[0] as number) & 0x0f;
  let length = (buffer[1] as number) & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buffer.length < 4) return undefined;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return undefined;
    length = Number(buffer.readBigUInt64BE(2));
    offset = 10;
  }
  if (buffer.length < offset + 4 + length) return undefined;
  const mask = buffer.subarray(offset, offset + 4);
  const payload = Buffer.from(buffer.subarray(offset + 4, offset + 4 + length));
  for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return { opcode, payload, length: offset + 4 + length };
}

/** A final, unmasked server frame. */
function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const head =
    payload.length < 126
      ? Buffer.from([0x80 | opcode, payload.length])
      : payload.length < 65536
        ? Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 127]), bigLength(payload.length)]);
  return Buffer.concat([head, payload]);
}

function bigLength(length: number): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64BE(BigInt(length));
  return buffer;
}
