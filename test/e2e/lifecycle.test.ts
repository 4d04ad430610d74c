import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { startDynamoProxy, type DynamoProxy } from '../../support/dynamo-proxy';
import { killAllServices, runServiceToExit, startService } from '../helpers/service-process';
import { testEndpoint, uniqueId } from '../helpers/test-app';

afterAll(() => killAllServices());

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function javaChildrenOf(pid: number): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' });
  const rows = out
    .trim()
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line)?.slice(1) ?? []);
  const descendants = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [child, parent] of rows) {
      if (descendants.has(Number(parent)) && !descendants.has(Number(child))) {
        descendants.add(Number(child));
        grew = true;
      }
    }
  }
  return rows
    .filter(([child, , args]) => descendants.has(Number(child)) && /^java .*DynamoDBLocal/.test(args ?? ''))
    .map(([child]) => Number(child));
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

describe('start-up configuration', () => {
  it.each([
    [{ STREAM_LIMIT: 'abc' }, 'STREAM_LIMIT'],
    [{ LEASE_SECONDS: '10', HEARTBEAT_INTERVAL_SECONDS: '10' }, 'HEARTBEAT_INTERVAL_SECONDS'],
    [{ AUTH_MODE: 'jwt' }, 'AUTH_JWT_SECRET'],
    [{ AUTH_MODE: 'saml' }, 'AUTH_MODE'],
    [{ DYNAMODB_ENDPOINT: 'aws' }, 'AWS_REGION'],
    [{ DYNAMODB_ENDPOINT: 'aws', AWS_REGION: 'us-east-1' }, 'AUTH_MODE'],
    [{ TRUST_PROXY: 'true' }, 'TRUST_PROXY'],
    [{ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: 'x'.repeat(32), AUTH_JWT_MAX_TTL_SECONDS: '0' }, 'AUTH_JWT_MAX_TTL_SECONDS'],
    [
      { AUTH_MODE: 'jwt', AUTH_JWKS_URL: 'http://idp.example.com/jwks.json', AUTH_JWT_AUDIENCE: 'stream-limiter' },
      'AUTH_JWKS_URL',
    ],
    [{ AUTH_MODE: 'jwt', AUTH_JWKS_URL: 'https://idp.example.com/jwks.json' }, 'AUTH_JWT_AUDIENCE'],
    [{ PORT: '3000', METRICS_PORT: '3000' }, 'METRICS_PORT'],
  ])('refuses %j at start with one line naming %s and a non-zero exit', async (env, variable) => {
    const { code, stderr, stdout } = await runServiceToExit(env);
    expect(code).not.toBe(0);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`${variable} must be`));
    expect(stdout).not.toMatch(/listening/);
  });

  it('says in one line how to fix a missing java for the embedded store', async () => {
    const { code, stderr } = await runServiceToExit({ PATH: '/nonexistent' });
    expect(code).not.toBe(0);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/java not found.*apt-get install -y default-jre-headless.*DYNAMODB_ENDPOINT/);
  });
});

describe('embedded DynamoDB Local', () => {
  it('serves on the embedded store with a warning, on loopback by default, and stops it on SIGTERM', async () => {
    // HOST left unset (the helper's default is overridden): the embedded store implies 127.0.0.1.
    const service = await startService({ HOST: '' });
    expect(service.output()).toMatch(/in-memory DynamoDB Local and are lost on exit/);
    expect(service.output()).toMatch(/"host":"127\.0\.0\.1"[^\n]*listening on port/);
    const res = await fetch(`${service.url}/streams/add`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: uniqueId() }),
    });
    expect(res.status).toBe(201);
    const javas = javaChildrenOf(service.child.pid!);
    expect(javas).toHaveLength(1);
    expect(await service.stop('SIGTERM')).toBe(0);
    expect(await waitFor(() => !processAlive(javas[0]!), 10_000)).toBe(true);
  });

  it('never lets the embedded store outlive a service killed with SIGKILL', async () => {
    const service = await startService({});
    const javas = javaChildrenOf(service.child.pid!);
    expect(javas).toHaveLength(1);
    await service.stop('SIGKILL');
    expect(await waitFor(() => !processAlive(javas[0]!), 10_000)).toBe(true);
  });
});

describe('graceful shutdown', () => {
  let proxy: DynamoProxy;
  beforeAll(async () => {
    proxy = await startDynamoProxy(testEndpoint());
  });
  afterAll(() => proxy.close());

  it('on SIGTERM turns /readyz 503, finishes in-flight requests, and exits 0', async () => {
    const service = await startService({
      DYNAMODB_ENDPOINT: proxy.endpoint,
      DYNAMODB_TABLE: `e2e-${randomUUID()}`,
      DYNAMODB_TIMEOUT_MS: '5000',
    });
    for (let i = 0; i < 100 && (await fetch(`${service.url}/readyz`)).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 100));
    await proxy.setFault({ mode: 'delay', delayMs: 800, operations: ['UpdateItem'] });
    const userId = uniqueId();
    const inFlight = Array.from({ length: 5 }, (_, i) =>
      fetch(`${service.url}/streams/add`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: `${userId}-${i}`, streamId: 's' }),
      }).then((r) => r.status),
    );
    await new Promise((r) => setTimeout(r, 300));
    service.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    const readyDuringDrain = await fetch(`${service.url}/readyz`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(await Promise.all(inFlight)).toEqual([201, 201, 201, 201, 201]);
    expect(await service.exited).toBe(0);
    expect(['refused', 503]).toContain(readyDuringDrain);
    // Logging is asynchronous: the lines still buffered at exit must have been flushed, not lost.
    expect(service.output().match(/"path":"\/streams\/add","status":201/g)).toHaveLength(5);
    expect(service.output()).toMatch(/"msg":"stopped"\}\n$/);
    await proxy.setFault({ mode: 'pass' });
  });
});

describe('leases in real time', () => {
  it('stops counting a silent player after LEASE_SECONDS=2, immediately', async () => {
    const service = await startService({
      DYNAMODB_ENDPOINT: testEndpoint(),
      DYNAMODB_TABLE: `e2e-${randomUUID()}`,
      LEASE_SECONDS: '2',
      STREAM_LIMIT: '1',
    });
    for (let i = 0; i < 100 && (await fetch(`${service.url}/readyz`)).status !== 200; i++)
      await new Promise((r) => setTimeout(r, 100));
    const post = (path: string, body: object) =>
      fetch(`${service.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const userId = uniqueId();
    const first = await post('/streams/add', { userId, streamId: 'crashed' });
    expect(await first.json()).toMatchObject({ heartbeatIntervalSeconds: 1 });
    expect((await post('/streams/add', { userId, streamId: 'other' })).status).toBe(409);
    await new Promise((r) => setTimeout(r, 2100));
    expect((await post('/streams/heartbeat', { userId, streamId: 'crashed' })).status).toBe(404);
    expect((await post('/streams/add', { userId, streamId: 'other' })).status).toBe(201);
    await service.stop();
  });
});
