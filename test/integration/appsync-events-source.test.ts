import pino from 'pino';
import { AppSyncEventsSource, signingHost } from '../../src/events/appsync-events-source';
import type { StreamTerminated } from '../../src/events/change-feed';
import { TERMINATIONS_CHANNEL } from '../../src/events/fanout-handler';
import { AppSyncEventsStandIn, type StandInOptions } from '../helpers/appsync-events-standin';

// Node 22 (the supported floor) has a global WebSocket; Node 20 only with --experimental-websocket
// (npm test and npm run test:integration pass it); a bare `npx jest` on Node 20 skips these.
const describeWithWebSocket = typeof globalThis.WebSocket === 'function' ? describe : describe.skip;

const silent = pino({ level: 'silent' });
const TASK_ROLE = {
  accessKeyId: 'ASIATASKROLE00000000',
  secretAccessKey: 'task-role-secret-access-key-0000000000000',
  sessionToken: 'task-role-session-token',
};
const REGION = 'eu-west-1';

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const kick = (streamId: string): StreamTerminated => ({
  userId: 'u-1',
  streamId,
  reason: 'replaced',
  replacedBy: { streamId: 'tablet', deviceId: 'kitchen' },
  at: 1_700_000_000_000,
  replacerDeviceOutOfLine: false,
});

describe('signingHost', () => {
  it("signs for the API's HTTP domain when given AWS's realtime domain, and for the same host otherwise", () => {
    expect(signingHost(new URL('wss://abc123.appsync-realtime-api.eu-west-1.amazonaws.com/event/realtime'))).toBe(
      'abc123.appsync-api.eu-west-1.amazonaws.com',
    );
    expect(signingHost(new URL('wss://events.example.com/event/realtime'))).toBe('events.example.com');
  });
});

describeWithWebSocket('AppSyncEventsSource against a stand-in Event API', () => {
  let standIn: AppSyncEventsStandIn;
  let source: AppSyncEventsSource | undefined;
  const received: StreamTerminated[] = [];

  async function setUp(
    options: Partial<StandInOptions> = {},
    credentials: StandInOptions['credentials'] = TASK_ROLE,
  ): Promise<{ started: Promise<void> }> {
    standIn = await AppSyncEventsStandIn.start({ credentials: TASK_ROLE, region: REGION, ...options });
    received.length = 0;
    source = new AppSyncEventsSource({
      url: standIn.realtimeUrl,
      region: REGION,
      credentials: () => Promise.resolve(credentials),
      logger: silent,
      initialBackoffMs: 50,
      maxBackoffMs: 200,
      handshakeTimeoutMs: 2000,
    });
    // start() resolves once subscribed (or stopped); wrapped so awaiting setUp does not wait for it.
    return { started: source.start((event) => received.push(event)) };
  }

  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await standIn.stop();
  });

  it('connects with the Events subprotocol and a SigV4 header carrying the session token, then subscribes signed', async () => {
    await (
      await setUp()
    ).started;
    expect(standIn.refusals).toEqual([]);
    const [handshake] = standIn.handshakes;
    expect(handshake?.protocols[0]).toBe('aws-appsync-event-ws');
    expect(handshake?.protocols[1]).toMatch(/^header-[A-Za-z0-9_-]+$/);
    expect(handshake?.header).toMatchObject({
      host: standIn.host,
      'x-amz-security-token': TASK_ROLE.sessionToken,
      authorization: expect.stringMatching(
        /^AWS4-HMAC-SHA256 Credential=ASIATASKROLE00000000\/\d{8}\/eu-west-1\/appsync\/aws4_request, SignedHeaders=accept;content-encoding;content-type;host;x-amz-date;x-amz-security-token, Signature=/,
      ) as unknown,
    });
    expect(standIn.subscribed).toEqual([
      {
        channel: TERMINATIONS_CHANNEL,
        authorization: expect.objectContaining({ 'x-amz-security-token': TASK_ROLE.sessionToken }) as unknown,
      },
    ]);
  });

  it('signs without a security token when the credentials have none', async () => {
    const longTerm = { accessKeyId: TASK_ROLE.accessKeyId, secretAccessKey: TASK_ROLE.secretAccessKey };
    await (
      await setUp({ credentials: longTerm }, longTerm)
    ).started;
    expect(standIn.refusals).toEqual([]);
    expect(standIn.handshakes[0]?.header).not.toHaveProperty('x-amz-security-token');
    expect(standIn.subscribed).toHaveLength(1);
  });

  it('delivers each data event as the StreamTerminated the fan-out published, skipping what does not decode', async () => {
    await (
      await setUp()
    ).started;
    standIn.broadcast(TERMINATIONS_CHANNEL, [
      JSON.stringify(kick('tv')),
      '{"userId":"u-1"}',
      'not json',
      JSON.stringify({ ...kick('phone'), reason: 'evicted', replacedBy: undefined }),
    ]);
    standIn.broadcast('/terminations/other', [JSON.stringify(kick('elsewhere'))]);
    await waitFor(() => received.length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const evicted: Record<string, unknown> = { ...kick('phone'), reason: 'evicted' };
    delete evicted.replacedBy;
    expect(received).toEqual([kick('tv'), evicted]);
  });

  it('reconnects with freshly signed headers and resubscribes when the connection drops', async () => {
    await (
      await setUp()
    ).started;
    standIn.drop();
    await waitFor(() => standIn.subscribed.length === 2 && standIn.openConnections === 1);
    expect(standIn.handshakes).toHaveLength(2);
    standIn.broadcast(TERMINATIONS_CHANNEL, [JSON.stringify(kick('tv'))]);
    await waitFor(() => received.length === 1);
    expect(standIn.refusals).toEqual([]);
  });

  it('keeps a connection whose keep-alives arrive, and replaces one silent for longer than connectionTimeoutMs', async () => {
    await (
      await setUp({ connectionTimeoutMs: 300, keepAliveIntervalMs: 50 })
    ).started;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(standIn.handshakes).toHaveLength(1);

    standIn.sendKeepAlives = false;
    const silencedAt = Date.now();
    await waitFor(() => standIn.handshakes.length === 2);
    expect(Date.now() - silencedAt).toBeGreaterThanOrEqual(250);
    standIn.sendKeepAlives = true;
    await waitFor(() => standIn.subscribed.length === 2);
  });

  it('retries with back-off while the signature is refused, and stop ends the attempts', async () => {
    const { started } = await setUp(
      {},
      { ...TASK_ROLE, secretAccessKey: 'a-rotated-out-secret-access-key-00000000000' },
    );
    let resolved = false;
    void started.then(() => (resolved = true));
    await waitFor(() => standIn.handshakes.length >= 3);
    expect(standIn.refusals[0]).toBe('connect: signature does not match');
    expect(standIn.subscribed).toEqual([]);
    // start() resolves once subscribed, or once stopped: never while refused.
    expect(resolved).toBe(false);
    await source?.stop();
    await started;
    const attempts = standIn.handshakes.length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(standIn.handshakes).toHaveLength(attempts);
  });

  it('closes its connection on stop', async () => {
    await (
      await setUp()
    ).started;
    expect(standIn.openConnections).toBe(1);
    await source?.stop();
    await waitFor(() => standIn.openConnections === 0);
  });
});
