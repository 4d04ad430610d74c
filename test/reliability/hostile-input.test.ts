import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { killAllServices } from '../helpers/service-process';
import { testEndpoint } from '../helpers/test-app';
import { AUTH_SECRET, authCases, makeTokens } from './helpers/auth-cases';
import { mapLimit, type Answer } from './helpers/http-client';
import { generateCases, METADATA_CATEGORY, type HostileCase } from './helpers/hostile-cases';
import { recordSection, Tally } from './helpers/results';
import { startInstances, waitReady, type Instance } from './helpers/service-cluster';
import { itemProblems, rawClient, scanTable } from './helpers/table-check';

/*
 * Hostile input against one real listening service: over 10,000 generated
 * requests to every endpoint. Every answer is a 2xx or a 4xx, errors are
 * problem+json with a stable code, the process stays healthy, and the table
 * holds nothing but valid leases afterwards.
 */

jest.setTimeout(300_000);

const SEED = Number(process.env.RELIABILITY_SEED ?? 20261123);
const CONCURRENCY = 16;
const AUTH_CASES = 2000;

/** The checks every answer must pass, whatever was sent. */
function commonProblem(sent: HostileCase, answer: Answer): string | undefined {
  if (answer.status >= 500) return `${answer.status} (never 5xx)`;
  if (answer.status < 200 || answer.status >= 500) return `unexpected status ${answer.status}`;
  const requestId = answer.headers['x-request-id'];
  if (typeof requestId !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(requestId))
    return `bad X-Request-Id ${String(requestId)}`;
  if (answer.status >= 400) {
    if (!String(answer.headers['content-type']).startsWith('application/problem+json'))
      return `error without problem+json: ${answer.headers['content-type']}`;
    if (sent.request.method === 'HEAD') return undefined;
    const body = answer.json as Record<string, unknown> | undefined;
    if (
      !body ||
      typeof body.code !== 'string' ||
      body.status !== answer.status ||
      typeof body.title !== 'string' ||
      typeof body.type !== 'string'
    ) {
      return `problem body lacks code/status/title/type: ${answer.text.slice(0, 200)}`;
    }
    if (answer.status === 405 && !answer.headers.allow) return '405 without Allow';
    if (/\bat \S+ \(|node_modules|\.ts:\d+/.test(answer.text)) return 'internals leaked in the body';
  } else if (
    answer.status !== 204 &&
    sent.request.method !== 'HEAD' &&
    !String(answer.headers['content-type']).startsWith('application/json')
  ) {
    return `2xx without JSON: ${answer.headers['content-type']}`;
  }
  return undefined;
}

describe('hostile input: over 10,000 generated requests to every endpoint', () => {
  let instance: Instance | undefined;
  let raw: DynamoDBClient;
  const table = `hostile-${randomUUID()}`;

  beforeAll(async () => {
    [instance] = await startInstances(1, {
      DYNAMODB_ENDPOINT: testEndpoint(),
      DYNAMODB_TABLE: table,
      DYNAMODB_TIMEOUT_MS: '5000',
    });
    await waitReady(instance!);
    raw = rawClient(testEndpoint());
  });

  afterAll(async () => {
    instance?.client.close();
    await instance?.service.stop('SIGKILL');
    killAllServices();
    raw?.destroy();
  });

  it('answers every one with a 2xx or a problem+json 4xx, stays healthy, and stores only valid leases', async () => {
    const started = performance.now();
    const cases = generateCases(SEED);
    const client = instance!.client;
    const byCategory = new Map<string, Tally>();
    const failures: string[] = [];
    let sentBytes = 0;

    const admittedWithMetadata: Array<{ userId: string; streamId: string; metadata: unknown }> = [];
    await mapLimit(cases, CONCURRENCY, async (sent) => {
      let answer: Answer;
      try {
        answer = await client.request(sent.request, 30_000);
      } catch (error) {
        failures.push(
          `[${sent.category}] ${sent.request.method} ${sent.request.path.slice(0, 80)}: no answer (${(error as Error).message})`,
        );
        return;
      }
      sentBytes += sent.request.body === undefined ? 0 : Buffer.byteLength(sent.request.body);
      const tally = byCategory.get(sent.category) ?? new Tally();
      byCategory.set(sent.category, tally);
      tally.add(String(answer.status));
      const problem = commonProblem(sent, answer) ?? sent.expect?.(answer);
      if (sent.category === METADATA_CATEGORY && answer.status === 201)
        admittedWithMetadata.push(JSON.parse(String(sent.request.body)));
      if (problem) {
        const body = sent.request.body === undefined ? '' : String(sent.request.body).slice(0, 160);
        failures.push(
          `[${sent.category}] ${sent.request.method} ${sent.request.path.slice(0, 80)} ${JSON.stringify(sent.request.headers ?? {})} ${JSON.stringify(body)} -> ` +
            `${answer.status} ${answer.text.slice(0, 200)}: ${problem}`,
        );
      }
    });

    // Metadata is stored and listed back exactly as sent: null bytes, bidi marks, lone surrogates and all.
    let metadataRoundTrips = 0;
    await mapLimit(admittedWithMetadata, CONCURRENCY, async ({ userId, streamId, metadata }) => {
      const listed = await client.get(`/users/${encodeURIComponent(userId)}/streams`);
      const stream = (listed.json as { streams?: Array<{ streamId: string; metadata?: unknown }> }).streams?.find(
        (s) => s.streamId === streamId,
      );
      // DynamoDB maps keep no key order, so compare sorted entries.
      const canonical = (value: unknown) =>
        JSON.stringify(Object.entries((value ?? {}) as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)));
      if (stream !== undefined && canonical(stream.metadata) === canonical(metadata)) metadataRoundTrips++;
      else
        failures.push(
          `[metadata round trip] ${userId}/${streamId}: sent ${canonical(metadata).slice(0, 300)}, listed ${canonical(stream?.metadata).slice(0, 300)}`,
        );
    });

    // The process is still up and healthy.
    expect(instance!.service.child.exitCode).toBeNull();
    expect((await client.get('/healthz')).status).toBe(200);
    expect((await client.get('/readyz')).status).toBe(200);
    const unhandled = instance!.service
      .output()
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line));

    // Nothing but valid leases in the table.
    const items = await scanTable(raw, table);
    const itemFailures = items.flatMap((item) => itemProblems(item));
    let leases = 0;
    for (const item of items) leases += Object.keys(item).filter((name) => name.startsWith('L:')).length;

    const seconds = (performance.now() - started) / 1000;
    const distinctFailures = [
      ...new Set(failures.map((f) => (f.length > 700 ? `${f.slice(0, 500)} … ${f.slice(-200)}` : f))),
    ];
    await recordSection('hostile-input', {
      title: 'Hostile input (one real service process, keep-alive, 16 at a time)',
      finishedAt: new Date().toISOString(),
      seconds,
      figures: [
        ['bad inputs tried (generated requests)', cases.length],
        ...[...byCategory].map(([category, tally]): [string, string] => [
          `category: ${category}`,
          `${tally.total().toLocaleString('en-US')} (${tally.toString()})`,
        ]),
        ['request bytes sent', sentBytes],
        ['admitted hostile metadata listed back unchanged', `${metadataRoundTrips} of ${admittedWithMetadata.length}`],
        ['answers failing a check', failures.length],
        ['unhandled errors logged by the service', unhandled.length],
        ['items in the table afterwards', `${items.length} users, ${leases} leases, ${itemFailures.length} invalid`],
        ['fast-check seed (RELIABILITY_SEED)', String(SEED)],
      ],
      facts:
        failures.length === 0 && itemFailures.length === 0 && unhandled.length === 0
          ? [
              `all ${cases.length.toLocaleString('en-US')} hostile requests answered 2xx or 4xx; every error was problem+json with its code, status, title and type; no 5xx, no hang`,
              `every valid add with hostile metadata (null bytes, bidi marks, lone surrogates, keys such as constructor / toString / valueOf) was stored and listed back unchanged (${metadataRoundTrips})`,
              'every contract-valid id that looks like expression syntax (L:, T:x, a:v0, ver, cnt, a.e, ...) was accepted; every invalid or injected id was a VALIDATION_ERROR',
              'bodies over 16 KiB were 413, wrong content types 415, wrong methods 405 with Allow; /healthz and /readyz 200 at the end',
              `the table held only valid items afterwards (${items.length} users, ${leases} leases): contract-valid userIds and L:/T: names, numeric s/e, counters equal to the attribute counts`,
            ]
          : [],
      findings: distinctFailures.slice(0, 20),
    });

    expect(unhandled).toEqual([]);
    expect(itemFailures).toEqual([]);
    expect(distinctFailures.slice(0, 30)).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(10_000);
  });
});

describe('hostile input with AUTH_MODE=jwt: forged, expired, unsigned and misused bearer tokens', () => {
  let instance: Instance | undefined;

  afterAll(async () => {
    instance?.client.close();
    await instance?.service.stop('SIGKILL');
    killAllServices();
  });

  it('never lets a refused token through, and a valid token acts only on its own user unless admin', async () => {
    const started = performance.now();
    [instance] = await startInstances(1, {
      DYNAMODB_ENDPOINT: testEndpoint(),
      DYNAMODB_TABLE: `hostile-auth-${randomUUID()}`,
      DYNAMODB_TIMEOUT_MS: '5000',
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: AUTH_SECRET,
    });
    await waitReady(instance!);
    const tokens = await makeTokens();
    const cases = authCases(tokens, AUTH_CASES, SEED);
    const byCategory = new Map<string, Tally>();
    const failures: string[] = [];

    await mapLimit(cases, CONCURRENCY, async (sent) => {
      const answer = await instance!.client.request(sent.request, 30_000);
      const tally = byCategory.get(sent.category) ?? new Tally();
      byCategory.set(sent.category, tally);
      tally.add(String(answer.status));
      const problem = commonProblem(sent, answer) ?? sent.expect?.(answer);
      if (problem)
        failures.push(
          `${sent.request.method} ${sent.request.path.slice(0, 60)} -> ${answer.status} ${answer.text.slice(0, 160)}: ${problem}`,
        );
    });
    expect((await instance!.client.get('/healthz')).status).toBe(200);
    const distinct = [...new Set(failures)];

    await recordSection('hostile-auth', {
      title: 'Hostile bearer tokens (AUTH_MODE=jwt, HS256, one real service process)',
      finishedAt: new Date().toISOString(),
      seconds: (performance.now() - started) / 1000,
      figures: [
        ['requests', cases.length],
        ['token variants (valid and refused)', `${tokens.length} (${tokens.filter((t) => t.principal).length} valid)`],
        ...[...byCategory].map(([category, tally]): [string, string] => [
          `category: ${category}`,
          `${tally.total().toLocaleString('en-US')} (${tally.toString()})`,
        ]),
        ['answers failing a check', failures.length],
      ],
      facts:
        failures.length === 0
          ? [
              'no refused token (unsigned, alg none/None, HS384/HS512, RS256 header on an HMAC signature, swapped payload, wrong secret, expired beyond 30 s, not yet valid, no/empty/non-string sub, unknown crit, malformed, 2/4/5 segments) ever got past 401 UNAUTHENTICATED with WWW-Authenticate: Bearer',
              'a valid token acted only on its own sub (403 FORBIDDEN otherwise), limits only with streams:admin; no 5xx',
            ]
          : [],
      findings: distinct.slice(0, 20),
    });
    expect(distinct.slice(0, 30)).toEqual([]);
  });
});
