import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDynamoProxy, type DynamoProxy, type FaultMode, type FaultPlan } from '../../support/dynamo-proxy';
import { killAllServices } from '../helpers/service-process';
import { testEndpoint } from '../helpers/test-app';
import { sleep, type Answer } from './helpers/http-client';
import { recordSection, Tally } from './helpers/results';
import { getRawItem, liveLeasesOf, rawClient } from './helpers/table-check';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  isStoreUnavailable,
  watchStalls,
  listedStreams,
  serverMs,
  startInstances,
  waitReady,
  type Instance,
} from './helpers/service-cluster';

/*
 * Store faults through the proxy in front of DynamoDB Local, against two
 * real service processes. For every fault mode, first at 100 % and then at
 * 30 % of DynamoDB calls: each request gets a bounded answer (a proper 503
 * or a correct answer), nothing admitted before the fault is lost, no failed
 * call leaks a slot (a retry with the same streamId answers 200 or 201 and
 * the user ends with exactly the streams it should), and the service
 * recovers by itself once the proxy passes traffic again.
 */

jest.setTimeout(300_000);

const TIMEOUT_MS = 500;
/** Allowed on top of DYNAMODB_TIMEOUT_MS for HTTP and scheduling on a busy 2-core CI machine. */
const SLACK_MS = Number(process.env.RELIABILITY_SLACK_MS ?? 1000);
const DELAY_MS = 2000;
const MODES: readonly Exclude<FaultMode, 'pass'>[] = [
  'delay',
  'refuse',
  'reset',
  'drop-response',
  'error500',
  'throttle',
];

interface Figures {
  requests: number;
  unavailable: number;
  correct: number;
  maxMs: number;
  maxClientMs: number;
  stallMs: number;
  appliedAnswerLost: number;
  faults: number;
  recoveryMs: number;
}

describe('store faults: bounded answers, nothing lost, no leaked slot, automatic recovery', () => {
  let proxy: DynamoProxy;
  const table = `faults-${randomUUID()}`;
  let raw: DynamoDBClient;
  let instances: Instance[] = [];
  const started = performance.now();
  const perMode = new Map<string, Figures>();
  const outcomes = new Tally();
  const readyDuringFault = new Tally();

  beforeAll(async () => {
    proxy = await startDynamoProxy(testEndpoint());
    raw = rawClient(testEndpoint());
    instances = await startInstances(2, {
      DYNAMODB_ENDPOINT: proxy.endpoint,
      DYNAMODB_TABLE: table,
      DYNAMODB_TIMEOUT_MS: String(TIMEOUT_MS),
    });
    for (const instance of instances) await waitReady(instance);
  });

  afterAll(async () => {
    if (perMode.size < MODES.length * 2 + 1) {
      // Keep the services' logs of a failed run for diagnosis (request ids name the user and the call).
      for (const [i, instance] of instances.entries()) {
        const file = path.join(os.tmpdir(), `store-faults-service-${i}-${process.pid}.log`);
        fs.writeFileSync(file, instance.service.output());
        console.log(`[reliability] service ${i} log: ${file}`);
      }
    }
    for (const instance of instances) instance.client.close();
    await Promise.all(instances.map((instance) => instance.service.stop('SIGKILL')));
    killAllServices();
    await proxy?.setFault({ mode: 'pass' });
    await proxy?.close();
    raw?.destroy();
  });

  const via = (i: number) => instances[i % instances.length]!.client;
  let calmRetries = 0;

  /**
   * Outside a fault a 503 can still happen when the shared CI machine stalls
   * DynamoDB Local past the 500 ms bound; like a player honouring Retry-After,
   * try again (the same request, so it is idempotent) and count it.
   */
  async function outsideFault(send: () => Promise<Answer>): Promise<Answer> {
    for (let attempt = 1; ; attempt++) {
      const answer = await send();
      if (!isStoreUnavailable(answer) || attempt === 5) return answer;
      calmRetries++;
      await sleep(200);
    }
  }

  /**
   * One phase: set up users with leases b1 (kept) and r1 (to remove), inject
   * `plan`, send add f1 / re-add b1 / heartbeat b1 / remove r1 / list per user, recover,
   * then check every answer and the stored result.
   */
  /** Total faults injected so far, all modes. */
  const totalInjected = () => Object.values(proxy.faultsInjected()).reduce((sum, n) => sum + n, 0);

  /**
   * `plan` is one fault for the whole phase, or 'mixed': every 50 ms a random mode on 30 % of calls,
   * so one request can meet a delay on its first attempt and a lost answer on its retry.
   */
  async function runPhase(label: string, plan: FaultPlan | 'mixed', users: number): Promise<void> {
    await proxy.setFault({ mode: 'pass' });
    const ids = Array.from(
      { length: users },
      (_, i) => `${label.replace(/[^A-Za-z0-9]/g, '')}-${i}-${randomUUID().slice(0, 8)}`,
    );
    for (const [i, userId] of ids.entries()) {
      for (const streamId of ['b1', 'r1']) {
        const answer = await outsideFault(() => via(i).post('/streams/add', { userId, streamId }));
        expect([200, 201]).toContain(answer.status);
      }
    }

    const injectedBefore = totalInjected();
    let mixing = false;
    let mixer: Promise<void> = Promise.resolve();
    if (plan === 'mixed') {
      mixing = true;
      mixer = (async () => {
        while (mixing) {
          const mode = MODES[Math.floor(Math.random() * MODES.length)]!;
          await proxy.setFault({ mode, probability: 0.3, delayMs: DELAY_MS });
          await sleep(50);
        }
      })();
    } else {
      await proxy.setFault(plan);
    }
    const full = plan !== 'mixed' && (plan.probability ?? 1) >= 1;
    const mode = plan === 'mixed' ? 'mixed' : plan.mode;

    type Sent = { userId: string; kind: 'add' | 'renew' | 'heartbeat' | 'remove' | 'list'; answer: Answer };
    let sent: Sent[];
    let recovered: number;
    let stall = 0;
    const stalls = watchStalls(instances);
    try {
      sent = (
        await Promise.all(
          ids.map(async (userId, i): Promise<Sent[]> => {
            const listPath = `/users/${encodeURIComponent(userId)}/streams`;
            // Each request names itself, so the service's own time for it can be read from its request log.
            const rid = (kind: string) => ({ 'x-request-id': `${userId}.${kind}` });
            const [add, renew, heartbeat, remove, list] = await Promise.all([
              via(i).post('/streams/add', { userId, streamId: 'f1' }, undefined, rid('add')),
              // A retried add of a live stream takes the read-decide-write path guarded by the item's version.
              via(i + 1).post('/streams/add', { userId, streamId: 'b1' }, undefined, rid('renew')),
              via(i + 1).post('/streams/heartbeat', { userId, streamId: 'b1' }, undefined, rid('heartbeat')),
              via(i).post('/streams/remove', { userId, streamId: 'r1' }, undefined, rid('remove')),
              via(i + 1).get(listPath, undefined, rid('list')),
            ]);
            return [
              { userId, kind: 'add', answer: add },
              { userId, kind: 'renew', answer: renew },
              { userId, kind: 'heartbeat', answer: heartbeat },
              { userId, kind: 'remove', answer: remove },
              { userId, kind: 'list', answer: list },
            ];
          }),
        )
      ).flat();

      // While the fault lasts the process stays alive, and readiness tells the load balancer the truth.
      for (const instance of instances) {
        expect((await instance.client.get('/healthz')).status).toBe(200);
        const ready = await instance.client.get('/readyz', TIMEOUT_MS + SLACK_MS + 5000);
        readyDuringFault.add(`${mode}${full ? '' : ' 30%'} ${ready.status}`);
        if (mode === 'refuse' && full) expect(ready.status).toBe(503);
      }
    } finally {
      // However the phase went, the fault ends here, so a failed check never leaves the proxy faulting.
      mixing = false;
      await mixer;
      await proxy.setFault({ mode: 'pass' });
      recovered = performance.now();
      stall = await stalls.stop();
    }

    const figures: Figures = {
      requests: sent.length,
      unavailable: 0,
      correct: 0,
      maxMs: 0,
      maxClientMs: 0,
      stallMs: stall,
      appliedAnswerLost: 0,
      faults: 0,
      recoveryMs: 0,
    };
    for (const { userId, kind, answer } of sent) {
      // The bound is on the service: its own time for the request. The client's time adds the test
      // machine's scheduling and is only held to a looser bound, which still catches a hang.
      const serviceMs = serverMs(instances, `${userId}.${kind}`) ?? answer.ms;
      figures.maxMs = Math.max(figures.maxMs, serviceMs);
      figures.maxClientMs = Math.max(figures.maxClientMs, answer.ms);
      outcomes.add(`${kind} ${answer.status}`);
      const context = `${label}: ${kind} for ${userId} answered ${answer.status} in ${serviceMs.toFixed(0)} ms (client saw ${answer.ms.toFixed(0)} ms): ${answer.text}`;
      const bound = TIMEOUT_MS + SLACK_MS + stall;
      expect({ context, bound, bounded: serviceMs <= bound }).toEqual({ context, bound, bounded: true });
      expect({ context, bounded: answer.ms <= TIMEOUT_MS + SLACK_MS + 5000 }).toEqual({ context, bounded: true });
      if (isStoreUnavailable(answer)) {
        figures.unavailable++;
        continue;
      }
      // At 100 % every store call fails, so no answer may claim success.
      expect({ context, full }).toEqual({ context, full: false });
      const body = answer.json as Record<string, unknown>;
      const correct =
        (kind === 'add' && (answer.status === 201 || answer.status === 200) && body.streamId === 'f1') ||
        (kind === 'renew' && answer.status === 200 && body.streamId === 'b1') ||
        (kind === 'heartbeat' && answer.status === 200 && body.streamId === 'b1') ||
        (kind === 'remove' && answer.status === 200 && body.streamId === 'r1' && typeof body.removed === 'boolean') ||
        (kind === 'list' &&
          answer.status === 200 &&
          (body.streams as Array<{ streamId: string }>).some((s) => s.streamId === 'b1'));
      expect({ context, correct }).toEqual({ context, correct: true });
      figures.correct++;
    }

    // Recovery is automatic: nothing is restarted, readiness returns by itself.
    for (const instance of instances) await waitReady(instance, 10_000);
    figures.recoveryMs = performance.now() - recovered;
    // A delayed request may still reach DynamoDB after its 503; let those land before judging the table.
    if (mode === 'delay' || mode === 'mixed') await sleep(DELAY_MS + 300);
    figures.faults = totalInjected() - injectedBefore;

    for (const [i, userId] of ids.entries()) {
      const mine = sent.filter((s) => s.userId === userId);
      const add = mine.find((s) => s.kind === 'add')!.answer;
      const remove = mine.find((s) => s.kind === 'remove')!.answer;

      // Nothing admitted before the fault is lost.
      const before = await listedStreams(via(i + 1), userId);
      expect({ userId, b1: before.includes('b1') }).toEqual({ userId, b1: true });
      if (remove.status === 200 && (remove.json as { removed: boolean }).removed) expect(before).not.toContain('r1');

      // Whether the add reached DynamoDB, read past the proxy: a 503 may hide an applied write (lost answer).
      const applied = liveLeasesOf(await getRawItem(raw, table, userId), Date.now()).has('f1');
      if (applied && !(add.status === 201 || add.status === 200)) figures.appliedAnswerLost++;

      // The player's retry after a 503 or a lost answer: same streamId, never a second slot. It answers 200
      // exactly when the first attempt was applied, 201 when it never reached DynamoDB.
      const retry = await outsideFault(() => via(i + 1).post('/streams/add', { userId, streamId: 'f1' }));
      const context = `${label}: retried add f1 for ${userId} (first answer ${add.status}, stored: ${applied}) answered ${retry.status}: ${retry.text}`;
      expect({ context, status: retry.status }).toEqual({ context, status: applied ? 200 : 201 });
      if (add.status === 201 || add.status === 200) expect({ context, applied }).toEqual({ context, applied: true });
      if (!(remove.status === 200)) {
        const again = await outsideFault(() => via(i).post('/streams/remove', { userId, streamId: 'r1' }));
        expect(again.status).toBe(200);
      }
      const after = await listedStreams(via(i), userId);
      expect({ userId, after: after.sort() }).toEqual({ userId, after: ['b1', 'f1'] });
      // Requests succeed again without a restart: a new stream is admitted, the count stays within the limit.
      const fresh = await outsideFault(() => via(i).post('/streams/add', { userId, streamId: 'n1' }));
      expect([200, 201]).toContain(fresh.status);
      expect((fresh.json as { activeStreams: number }).activeStreams).toBe(3);
      const over = await outsideFault(() => via(i + 1).post('/streams/add', { userId, streamId: 'n2' }));
      expect(over.status).toBe(409);
    }
    // drop-response at 100 %: the scenario must really have happened (writes applied, answers lost).
    if (mode === 'drop-response' && full) expect(figures.appliedAnswerLost).toBeGreaterThan(0);
    perMode.set(label, figures);
  }

  for (const mode of MODES) {
    it(`${mode} on every DynamoDB call: 503s within the timeout, then recovery with nothing lost or leaked`, async () => {
      await runPhase(mode, { mode, ...(mode === 'delay' && { delayMs: DELAY_MS }) }, 10);
    });
  }

  for (const mode of MODES) {
    it(`${mode} on 30 % of DynamoDB calls: every answer is a 503 or correct, nothing lost or leaked`, async () => {
      await runPhase(`${mode} 30%`, { mode, probability: 0.3, ...(mode === 'delay' && { delayMs: DELAY_MS }) }, 24);
    });
  }

  it('a random fault mode every 50 ms on 30 % of DynamoDB calls: every answer is a 503 or correct, nothing lost or leaked', async () => {
    await runPhase('mixed 30%', 'mixed', 40);
  });

  it('records the figures', async () => {
    const rows: Array<[string, string]> = [...perMode].map(([label, f]) => [
      label,
      `${f.faults} faults injected; ${f.requests} requests: ${f.unavailable} x 503, ${f.correct} correct; slowest ${f.maxMs.toFixed(0)} ms in the service (${f.maxClientMs.toFixed(0)} ms at the client, /healthz stalled up to ${f.stallMs.toFixed(0)} ms); ` +
        `${f.appliedAnswerLost} adds applied behind a 503${f.appliedAnswerLost ? ' (answer lost; each retry 200, no second slot)' : ''}; ready again after ${f.recoveryMs.toFixed(0)} ms`,
    ]);
    let faults = 0;
    let requests = 0;
    for (const f of perMode.values()) {
      faults += f.faults;
      requests += f.requests;
    }
    await recordSection('store-faults', {
      title: 'Store faults via the DynamoDB proxy (2 service processes, DYNAMODB_TIMEOUT_MS=500)',
      finishedAt: new Date().toISOString(),
      seconds: (performance.now() - started) / 1000,
      figures: [
        ['phases (each mode at 100 % and at 30 %, then all modes mixed at 30 %)', perMode.size],
        ['faults injected (DynamoDB calls faulted)', faults],
        ['API requests during faults', requests],
        ...rows,
        ['answers during faults', outcomes.toString()],
        ['/readyz during faults', readyDuringFault.toString()],
        [
          'bound on every answer (service-side time)',
          `DYNAMODB_TIMEOUT_MS ${TIMEOUT_MS} ms + ${SLACK_MS} ms slack + the longest /healthz answer seen in the phase (machine stall)`,
        ],
        ['503s outside faults (machine stalls), retried like a player', calmRetries],
        [
          'note',
          "refuse at 100 % closes the proxy's port, counted as one fault; at 30 % it drops the connection like reset",
        ],
      ],
      findings:
        perMode.size === MODES.length * 2 + 1
          ? []
          : [`only ${perMode.size} of ${MODES.length * 2 + 1} phases passed; see the failing tests`],
      facts:
        perMode.size < MODES.length * 2 + 1
          ? []
          : [
              'every request during a fault answered within the bound: a 503 STORE_UNAVAILABLE (problem+json, Retry-After) or a correct answer; never a 500, never a hang',
              'at 100 % faults no request claimed success',
              'every lease admitted before a fault was still listed after it (nothing lost)',
              'every add that failed during a fault, retried with the same streamId, answered 200 exactly when DynamoDB held it (read past the proxy) and 201 when it did not; each user ended with exactly its expected streams (no leaked slot)',
              'drop-response (write applied, answer lost): the retries of those adds answered 200 and took no second slot',
              '/readyz answered 503 while DynamoDB refused connections and 200 again after, with no restart; /healthz stayed 200 throughout',
            ],
    });
  });
});
