/*
 * One screen, behaving as the player SDK does (sdk/stream-limiter-client.ts): the next heartbeat
 * goes out heartbeatIntervalSeconds after the last answer, expiresAt of every answer is the lease
 * it holds, a 404 re-adds the same streamId, a 410 stops for good, a 409 on start gives up. On top
 * of that the plan decides when it stops (remove) or crashes (silence), and when it starts by
 * pressing "watch here instead" on another screen of the same user.
 */
import { randomUUID } from 'node:crypto';
import type { Answer, ApiClient } from './api-client';
import type { CrashRecord, Ledger } from './ledger';
import type { PlannedSession, SimScreen, SimUser } from './population';
import type { TimeScale } from './time-scale';

export interface World {
  readonly client: ApiClient;
  readonly scale: TimeScale;
  readonly ledger: Ledger;
  /** Simulated seconds since the run started. */
  now(): number;
  /** Resolves after `simulatedSeconds`, or early (false) once the run is over. */
  wait(simulatedSeconds: number): Promise<boolean>;
  /** Streams this simulation believes live, per user, oldest first (what a "stop one of these" list shows). */
  readonly live: Map<string, Array<{ streamId: string; deviceId: string }>>;
  /** Crashed streams whose last lease has not run out yet, per user, with that expiry in simulated seconds. */
  readonly crashedHeld: Map<string, Array<{ streamId: string; untilS: number }>>;
  /** Checks a crashed stream's slot around its expiry (sets `verified`); false when the probe budget is spent. */
  probeCrash(crash: CrashRecord, expiresAtS: number): boolean;
}

interface Lease {
  readonly intervalS: number;
  readonly expiresAtS: number;
  /** Length of the lease as granted, simulated seconds. */
  readonly grantedS: number;
}

function leaseOf(world: World, answer: Answer): Lease | undefined {
  const interval = answer.body.heartbeatIntervalSeconds;
  const expiresAt = Date.parse(String(answer.body.expiresAt));
  if (typeof interval !== 'number' || !(interval > 0) || Number.isNaN(expiresAt)) return undefined;
  // expiresAt is on the service's clock, which is this machine's: convert it to simulated time.
  const grantedS = world.scale.toSimulatedS(expiresAt - Date.now());
  world.ledger.answered(interval * world.scale.factor, grantedS);
  return { intervalS: interval * world.scale.factor, expiresAtS: world.now() + grantedS, grantedS };
}

function addLive(world: World, userId: string, streamId: string, deviceId: string): void {
  const list = world.live.get(userId) ?? [];
  list.push({ streamId, deviceId });
  world.live.set(userId, list);
}

function dropLive(world: World, userId: string, streamId: string): void {
  const list = world.live.get(userId);
  if (!list) return;
  const index = list.findIndex((entry) => entry.streamId === streamId);
  if (index >= 0) list.splice(index, 1);
}

function crashedSlotHeld(world: World, userId: string): boolean {
  const held = world.crashedHeld.get(userId);
  if (!held) return false;
  const now = world.now();
  const stillHeld = held.filter((entry) => entry.untilS > now);
  world.crashedHeld.set(userId, stillHeld);
  return stillHeld.length > 0;
}

const transient = (status: number) => status === 0 || status === 429 || status >= 500;

/** One planned session, from the add to its end, whatever ends it. */
async function playSession(world: World, user: SimUser, screen: SimScreen, plan: PlannedSession): Promise<void> {
  const { client, ledger } = world;
  const userId = user.userId;
  const streamId = randomUUID();
  const endS = plan.startS + plan.lengthS;
  ledger.sessionsStarted++;
  const target = plan.replace ? world.live.get(userId)?.find((entry) => entry.deviceId !== screen.deviceId) : undefined;
  if (target) ledger.replacesSent++;
  const addBody = { userId, streamId, deviceId: screen.deviceId, ...(target && { replaceStreamId: target.streamId }) };

  // When the last request was due: the schedule runs from there (see the loop below).
  let dueS = world.now();
  let answer = await client.post('/streams/add', addBody);
  for (let attempt = 1; transient(answer.status) && attempt < 4; attempt++) {
    ledger.transient('add', answer.status);
    if (!(await world.wait(attempt * 2))) return;
    dueS = world.now();
    answer = await client.post('/streams/add', addBody);
  }
  if (answer.status === 409) {
    ledger.refusedAtStart++;
    if (crashedSlotHeld(world, userId)) ledger.refusedWhileCrashedSlotHeld++;
    return;
  }
  let lease = answer.status === 201 || answer.status === 200 ? leaseOf(world, answer) : undefined;
  if (!lease) return;
  ledger.admitted++;
  const admittedS = world.now();
  addLive(world, userId, streamId, screen.deviceId);
  const finish = () => {
    ledger.play(admittedS, world.now());
    dropLive(world, userId, streamId);
  };

  for (;;) {
    // The SDK sends the next heartbeat one interval after the last answer, and in real time the
    // answer comes within milliseconds of the request (0.1% of 30 s). Compressed 30×, the same
    // latency, and a busy machine's timer lag, would be 30× larger against the interval and thin
    // out the heartbeats; so the schedule runs from when the last request was due, which is the
    // real-time SDK's schedule with its latency, not the compressed one's.
    const nextBeatS = dueS + lease.intervalS;
    if (endS <= nextBeatS) {
      const running = await world.wait(endS - world.now());
      finish();
      if (!running) return;
      if (plan.end === 'crash') {
        // Silence from here: the slot stays taken until the last granted lease runs out.
        const crash: CrashRecord = {
          userId,
          streamId,
          heldS: lease.expiresAtS - world.now(),
          lastLeaseS: lease.grantedS,
        };
        ledger.crashes.push(crash);
        const held = world.crashedHeld.get(userId) ?? [];
        held.push({ streamId, untilS: lease.expiresAtS });
        world.crashedHeld.set(userId, held);
        world.probeCrash(crash, lease.expiresAtS);
      } else {
        ledger.removes++;
        await client.post('/streams/remove', { userId, streamId });
      }
      return;
    }
    if (!(await world.wait(nextBeatS - world.now()))) {
      finish();
      return;
    }
    dueS = nextBeatS;
    const sentS = world.now();
    // Catch up a little lateness, never with a burst: a player half an interval behind starts afresh.
    if (sentS - dueS > lease.intervalS / 2) dueS = sentS;
    answer = await client.post('/streams/heartbeat', { userId, streamId });
    ledger.timing(world.scale.toWallMs(sentS - nextBeatS), world.scale.toWallMs(world.now() - sentS));
    if (answer.status === 404) {
      // The lease lapsed (a slow machine, a long pause): the SDK adds the same streamId again.
      ledger.readds++;
      answer = await client.post('/streams/add', { userId, streamId, deviceId: screen.deviceId });
      if (answer.status === 409) {
        ledger.refusedReadds++;
        finish();
        return;
      }
    }
    if (answer.status === 410) {
      ledger.kicked++;
      finish();
      return;
    }
    if (transient(answer.status)) {
      ledger.transient('heartbeat', answer.status);
      // Sooner than the next regular tick, as the SDK does; the lease is still the last one granted.
      lease = { ...lease, intervalS: Math.max(1, lease.intervalS / 4) };
      dueS = world.now();
      continue;
    }
    const next = answer.status === 200 || answer.status === 201 ? leaseOf(world, answer) : undefined;
    if (!next) {
      finish();
      return;
    }
    lease = next;
  }
}

/** Plays every planned session of one screen in order, until the run ends. */
export async function runScreen(world: World, user: SimUser, screen: SimScreen): Promise<void> {
  for (const plan of screen.sessions) {
    // Screens found playing at t=0 would all press play in the same instant, a burst no real
    // audience makes: spread them over the first half of the warm-up, before anything is measured.
    const jitterS = plan.startS === 0 ? Math.random() * (world.ledger.windowStartS / 2) : 0;
    const delay = plan.startS + jitterS - world.now();
    if (delay > 0 && !(await world.wait(delay))) return;
    // A session cut short (kick, refusal) leaves the screen idle until its next planned start.
    await playSession(world, user, screen, plan);
    if (world.now() >= world.ledger.windowEndS) return;
  }
}
