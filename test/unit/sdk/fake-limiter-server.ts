/**
 * An in-process stand-in for the service, as seen through `fetch`: admission with a limit, renewals,
 * 404 for lapsed leases, 410 for removed/replaced ones (within LEASE_SECONDS), remove with and
 * without streamId, listing, bearer auth, and injectable faults (503/429 with Retry-After, network
 * errors, answers lost after the write, slow answers, requests that never answer). Time is `Date.now()`
 * (plus `clockOffsetMs`), so jest's fake timers drive lease expiry too.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
  headers: Record<string, string>;
  keepalive: boolean;
  at: number;
}

export type Fault =
  | { kind: 'status'; status: number; code: string; retryAfter?: string; contentType?: string; text?: string }
  | { kind: 'network' }
  | { kind: 'lost-answer' }
  | { kind: 'hang' }
  | { kind: 'delay'; ms: number };

interface Lease {
  userId: string;
  streamId: string;
  deviceId?: string;
  metadata?: Record<string, string>;
  startedAt: number;
  expiresAt: number;
}

interface Termination {
  reason: 'removed' | 'replaced' | 'evicted';
  replacedBy?: { streamId: string; deviceId?: string };
  at: number;
}

interface Answer {
  status: number;
  body?: unknown;
  /** A `text/event-stream` body instead of JSON. */
  stream?: ReadableStream<Uint8Array>;
  headers?: Record<string, string>;
}

const ADD_FIELDS = new Set(['userId', 'streamId', 'deviceId', 'metadata', 'weight', 'replaceStreamId']);

/** One open `GET /streams/events` connection. */
interface EventStream {
  userId: string;
  streamId: string;
  controller: ReadableStreamDefaultController<Uint8Array>;
  headers: Record<string, string>;
}

export class FakeLimiterServer {
  limit = 3;
  leaseSeconds = 90;
  heartbeatIntervalSeconds = 30;
  /** When set, every request must carry `Authorization: Bearer <token>`. */
  token: string | undefined;
  /** Send a `Date` header (second resolution, like HTTP), as a same-origin or CORS-exposed answer would. */
  sendDateHeader = false;
  /** The server's clock minus the device's (jest's) clock. */
  clockOffsetMs = 0;
  /** The service's BASE_PATH. */
  basePath = '';
  /** Whether `GET /streams/events` exists (a service before it answers 404 NOT_FOUND). */
  eventStreams = true;
  /** Added to every lease answer (`degraded: true`, say). */
  leaseExtras: Record<string, unknown> = {};
  /** The open event streams, oldest first. */
  readonly openEventStreams: EventStream[] = [];
  readonly requests: RecordedRequest[] = [];
  private readonly leases = new Map<string, Lease>();
  private readonly terminated = new Map<string, Termination>();
  private readonly faults: { fault: Fault; path?: string }[] = [];
  private generated = 0;

  readonly fetch = async (input: string, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input);
    const method = init.method ?? 'GET';
    const headers = lowerCaseHeaders(init.headers);
    const body = typeof init.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
    const pathname = url.pathname.startsWith(this.basePath) ? url.pathname.slice(this.basePath.length) : url.pathname;
    const path = pathname + url.search;
    this.requests.push({ method, path, body, headers, keepalive: init.keepalive === true, at: Date.now() });
    const signal = init.signal ?? undefined;
    if (signal?.aborted) throw signal.reason;

    const index = this.faults.findIndex((f) => f.path === undefined || f.path === path);
    const fault = index >= 0 ? this.faults.splice(index, 1)[0]?.fault : undefined;
    if (fault?.kind === 'network') throw new TypeError('fetch failed');
    if (fault?.kind === 'hang') {
      return new Promise<Response>((_resolve, reject) => {
        signal?.addEventListener('abort', () => reject(signal.reason));
      });
    }
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms));
    if (fault?.kind === 'status') {
      const faultHeaders: Record<string, string> = { 'content-type': fault.contentType ?? 'application/problem+json' };
      if (fault.retryAfter !== undefined) faultHeaders['retry-after'] = fault.retryAfter;
      const text =
        fault.text ??
        JSON.stringify({
          type: 'about:blank',
          title: fault.code,
          status: fault.status,
          detail: fault.code,
          code: fault.code,
        });
      return new Response(text, { status: fault.status, headers: faultHeaders });
    }

    const answer = this.route(method, path, headers, body);
    if (fault?.kind === 'lost-answer') throw new TypeError('fetch failed');
    const outHeaders: Record<string, string> = {
      'content-type': answer.status >= 400 ? 'application/problem+json' : 'application/json',
      'x-request-id': `req-${this.requests.length}`,
      ...answer.headers,
    };
    if (this.sendDateHeader) outHeaders.date = new Date(this.now()).toUTCString();
    if (answer.stream) {
      return new Response(answer.stream, { status: 200, headers: { 'content-type': 'text/event-stream' } });
    }
    return new Response(answer.body === undefined ? '' : JSON.stringify(answer.body), {
      status: answer.status,
      headers: outHeaders,
    });
  };

  /** The next `times` requests (to `path`, when given) meet this fault instead of the service. */
  fail(fault: Fault, times = 1, path?: string): this {
    for (let i = 0; i < times; i++) this.faults.push(path === undefined ? { fault } : { fault, path });
    return this;
  }

  failWith(status: number, code: string, retryAfter?: string, times = 1, path?: string): this {
    const fault: Fault =
      retryAfter === undefined ? { kind: 'status', status, code } : { kind: 'status', status, code, retryAfter };
    return this.fail(fault, times, path);
  }

  /** Admits a stream as another device would, bypassing the HTTP layer. */
  seed(userId: string, streamId: string, deviceId?: string): void {
    const now = this.now();
    const lease: Lease = { userId, streamId, startedAt: now, expiresAt: now + this.leaseSeconds * 1000 };
    if (deviceId !== undefined) lease.deviceId = deviceId;
    this.leases.set(key(userId, streamId), lease);
  }

  /** Forgets a lease as if it had lapsed long ago (the next heartbeat gets 404). */
  forget(userId: string, streamId: string): void {
    this.leases.delete(key(userId, streamId));
    this.terminated.delete(key(userId, streamId));
  }

  live(userId: string): Lease[] {
    const now = this.now();
    return [...this.leases.values()]
      .filter((l) => l.userId === userId && l.expiresAt > now)
      .sort((a, b) => a.startedAt - b.startedAt);
  }

  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  requestsTo(path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  private route(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Record<string, unknown> | undefined,
  ): Answer {
    const users = /^\/users\/([^/]+)\/streams$/.exec(path);
    const events = path.startsWith('/streams/events?') && this.eventStreams;
    const known =
      ['/streams/add', '/streams/heartbeat', '/streams/remove', '/streams/check'].includes(path) ||
      users !== null ||
      events;
    if (!known) return problem(404, 'NOT_FOUND');
    if (this.token !== undefined && headers.authorization !== `Bearer ${this.token}`) {
      return { ...problem(401, 'UNAUTHENTICATED'), headers: { 'www-authenticate': 'Bearer' } };
    }
    if (events) return this.events(path, headers);
    if (users) {
      if (method !== 'GET') return problem(405, 'METHOD_NOT_ALLOWED');
      const userId = decodeURIComponent(users[1] ?? '');
      const live = this.live(userId);
      return {
        status: 200,
        body: { userId, limit: this.limit, activeStreams: live.length, streams: live.map(listed) },
      };
    }
    if (method !== 'POST') return problem(405, 'METHOD_NOT_ALLOWED');
    if (headers['content-type'] !== 'application/json') return problem(415, 'UNSUPPORTED_MEDIA_TYPE');
    if (!body) return problem(400, 'MALFORMED_JSON');
    const userId = body.userId;
    if (typeof userId !== 'string') return problem(400, 'VALIDATION_ERROR');
    if (path === '/streams/add') return this.add(userId, body);
    if (path === '/streams/heartbeat') return this.heartbeat(userId, body);
    if (path === '/streams/check') return this.check(userId);
    return this.remove(userId, body);
  }

  private add(userId: string, body: Record<string, unknown>): Answer {
    const unknown = Object.keys(body).filter((k) => !ADD_FIELDS.has(k));
    if (unknown.length > 0) return problem(400, 'VALIDATION_ERROR');
    const now = this.now();
    const streamId = typeof body.streamId === 'string' ? body.streamId : `generated-${++this.generated}`;
    const deviceId = typeof body.deviceId === 'string' ? body.deviceId : undefined;
    const replaceStreamId = typeof body.replaceStreamId === 'string' ? body.replaceStreamId : undefined;
    if (replaceStreamId === streamId) return problem(400, 'VALIDATION_ERROR');
    const existing = this.leases.get(key(userId, streamId));
    if (existing && existing.expiresAt > now) {
      existing.expiresAt = now + this.leaseSeconds * 1000;
      return { status: 200, body: this.leaseBody(existing) };
    }
    const replaced = replaceStreamId === undefined ? undefined : this.leases.get(key(userId, replaceStreamId));
    const live = this.live(userId);
    if (replaced && replaced.expiresAt > now) {
      this.end(userId, replaced.streamId, {
        reason: 'replaced',
        replacedBy: deviceId === undefined ? { streamId } : { streamId, deviceId },
        at: now,
      });
    } else if (live.length >= this.limit) {
      return problem(409, 'STREAM_LIMIT_REACHED', {
        limit: this.limit,
        activeStreams: live.length,
        streams: live.map(listed),
      });
    }
    this.terminated.delete(key(userId, streamId));
    const lease: Lease = { userId, streamId, startedAt: now, expiresAt: now + this.leaseSeconds * 1000 };
    if (deviceId !== undefined) lease.deviceId = deviceId;
    if (typeof body.metadata === 'object' && body.metadata !== null)
      lease.metadata = body.metadata as Record<string, string>;
    this.leases.set(key(userId, streamId), lease);
    return { status: 201, body: this.leaseBody(lease) };
  }

  private heartbeat(userId: string, body: Record<string, unknown>): Answer {
    const now = this.now();
    const streamId = String(body.streamId);
    const lease = this.leases.get(key(userId, streamId));
    if (lease && lease.expiresAt > now) {
      lease.expiresAt = now + this.leaseSeconds * 1000;
      return { status: 200, body: this.leaseBody(lease) };
    }
    const termination = this.terminated.get(key(userId, streamId));
    if (termination && termination.at + this.leaseSeconds * 1000 > now) {
      const extras: Record<string, unknown> = { reason: termination.reason };
      if (termination.replacedBy) extras.replacedBy = termination.replacedBy;
      return problem(410, 'STREAM_TERMINATED', extras);
    }
    return problem(404, 'STREAM_NOT_FOUND');
  }

  private remove(userId: string, body: Record<string, unknown>): Answer {
    const now = this.now();
    const live = this.live(userId);
    const target =
      typeof body.streamId === 'string'
        ? live.find((l) => l.streamId === body.streamId)
        : [...live].sort((a, b) => a.expiresAt - b.expiresAt)[0];
    if (target) this.end(userId, target.streamId, { reason: 'removed', at: now });
    const streamId = typeof body.streamId === 'string' ? body.streamId : (target?.streamId ?? null);
    return {
      status: 200,
      body: {
        userId,
        streamId,
        removed: target !== undefined,
        activeStreams: this.live(userId).length,
        limit: this.limit,
      },
    };
  }

  private leaseBody(lease: Lease): Record<string, unknown> {
    return {
      userId: lease.userId,
      streamId: lease.streamId,
      activeStreams: this.live(lease.userId).length,
      limit: this.limit,
      expiresAt: new Date(lease.expiresAt).toISOString(),
      heartbeatIntervalSeconds: this.heartbeatIntervalSeconds,
      ...this.leaseExtras,
    };
  }

  /** Evicts a live stream as evict-oldest would for another device's add. */
  evict(userId: string, streamId: string, replacedBy: { streamId: string; deviceId?: string }): void {
    this.end(userId, streamId, { reason: 'evicted', replacedBy, at: this.now() });
  }

  /** Sends a `: keep-alive` comment on every open event stream. */
  keepAlive(): void {
    for (const stream of this.openEventStreams) stream.controller.enqueue(encode(': keep-alive\n\n'));
  }

  /** Closes every open event stream without an event, as a restarting instance would. */
  dropEventStreams(): void {
    for (const stream of this.openEventStreams.splice(0)) stream.controller.close();
  }

  private end(userId: string, streamId: string, termination: Termination): void {
    this.leases.delete(key(userId, streamId));
    this.terminated.set(key(userId, streamId), termination);
    for (const stream of [...this.openEventStreams]) {
      if (stream.userId !== userId || stream.streamId !== streamId) continue;
      const data: Record<string, unknown> = { reason: termination.reason };
      if (termination.replacedBy) data.replacedBy = termination.replacedBy;
      // Split mid-line on purpose: the SDK must reassemble lines across chunks.
      const text = `event: terminated\r\ndata: ${JSON.stringify(data)}\r\n\r\n`;
      stream.controller.enqueue(encode(text.slice(0, 20)));
      stream.controller.enqueue(encode(text.slice(20)));
      stream.controller.close();
      this.openEventStreams.splice(this.openEventStreams.indexOf(stream), 1);
    }
  }

  private events(path: string, headers: Record<string, string>): Answer {
    const query = new URL(`https://x${path}`).searchParams;
    const userId = query.get('userId') ?? '';
    const streamId = query.get('streamId') ?? '';
    const lease = this.leases.get(key(userId, streamId));
    if (!lease || lease.expiresAt <= this.now()) return problem(404, 'STREAM_NOT_FOUND');
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.openEventStreams.push({ userId, streamId, controller, headers });
      },
      cancel: () => {
        const index = this.openEventStreams.findIndex((s) => s.userId === userId && s.streamId === streamId);
        if (index >= 0) this.openEventStreams.splice(index, 1);
      },
    });
    return { status: 200, stream };
  }

  private check(userId: string): Answer {
    const live = this.live(userId);
    return {
      status: 200,
      body: {
        userId,
        allowed: live.length < this.limit,
        activeStreams: live.length,
        slotsInUse: live.length,
        limit: this.limit,
        policy: 'block-new',
        streams: live.map(listed),
      },
    };
  }
}

function encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function key(userId: string, streamId: string): string {
  return `${userId}\u0000${streamId}`;
}

function listed(lease: Lease): Record<string, unknown> {
  const out: Record<string, unknown> = {
    streamId: lease.streamId,
    startedAt: new Date(lease.startedAt).toISOString(),
    expiresAt: new Date(lease.expiresAt).toISOString(),
  };
  if (lease.deviceId !== undefined) out.deviceId = lease.deviceId;
  if (lease.metadata !== undefined) out.metadata = lease.metadata;
  return out;
}

function problem(status: number, code: string, extras: Record<string, unknown> = {}): Answer {
  return { status, body: { type: 'about:blank', title: code, status, detail: `fake ${code}`, code, ...extras } };
}

function lowerCaseHeaders(headers: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  new Headers(headers).forEach((value, name) => {
    out[name] = value;
  });
  return out;
}
