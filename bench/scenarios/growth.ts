/*
 * The growth part: heartbeat and add latency on a table of few users and one of many (seeded with
 * BatchWriteItem), measured in alternation.
 */
import type { BenchContext } from '../lib/context';
import { seedUsers } from '../lib/dynamo-raw';
import { dynamicPost, runLoad } from '../lib/load';
import { round, stopChild } from '../lib/processes';
import { startService, type Service } from '../lib/service';
import { apiRequest, serviceRun } from '../lib/service-run';
import type { GrowthRecord, SeedRecord } from '../lib/types';

const growthUser = (index: number) => `g-${String(index).padStart(7, '0')}`;
const GROWTH_ROUNDS = 2;

async function seed(
  { knobs, log }: BenchContext,
  endpoint: string,
  table: string,
  to: number,
  now: number,
): Promise<SeedRecord> {
  log(
    `growth: seeding ${to} users into ${table} (BatchWriteItem, 25 per call, ${knobs.seedWriters} writers; stops after BENCH_SEED_MAX_S=${knobs.seedMaxS} s)`,
  );
  const started = performance.now();
  const deadline = started + knobs.seedMaxS * 1000;
  let lastReport = started;
  const reached = await seedUsers({
    endpoint,
    table,
    from: 0,
    to,
    writers: knobs.seedWriters,
    userId: growthUser,
    now,
    // Long enough to stay live through seeding and measuring; the shape is the service's.
    leaseMs: 6 * 3600_000,
    shouldStop: () => performance.now() > deadline,
    onProgress: (written) => {
      const clock = performance.now();
      if (clock - lastReport < 10_000 && written < to) return;
      lastReport = clock;
      const rate = written / ((clock - started) / 1000);
      log(
        `  seeded ${written}/${to} users (${Math.round(rate)} items/s, ~${Math.round((to - written) / rate)} s to go)`,
      );
    },
  });
  const seconds = (performance.now() - started) / 1000;
  if (reached < to) log(`growth: seeding stopped at ${reached} users after ${Math.round(seconds)} s`);
  return {
    table,
    users: reached,
    seconds: round(seconds, 1),
    itemsPerSecond: Math.round(reached / seconds),
    stoppedEarly: reached < to,
  };
}

interface GrowthTable {
  readonly service: Service;
  readonly users: number;
  /** A random seeded user for a heartbeat; see heartbeatPicker. */
  readonly heartbeatUser: () => number;
  /** Users to add a stream to, in order: each at most twice (a seeded user holds 1 of 3 streams). */
  readonly addOrder: number[];
}

/**
 * Random seeded users, each picked once while unpicked ones are easy to find:
 * a lease renewed by one heartbeat lapses 90 s later, so on the big table a
 * user drawn again minutes later would rightly answer 404. On the small table
 * every user is drawn again within seconds, so repeats are fine there.
 */
function heartbeatPicker(users: number): () => number {
  const picked = new Set<number>();
  return () => {
    for (let attempt = 0; attempt < 20 && picked.size < users; attempt++) {
      const index = Math.floor(Math.random() * users);
      if (!picked.has(index)) {
        picked.add(index);
        return index;
      }
    }
    return Math.floor(Math.random() * users);
  };
}

function addOrder(users: number, adds: number): number[] {
  if (users < adds) return Array.from({ length: Math.min(adds, 2 * users) }, (_, index) => index % users);
  const picked = new Set<number>();
  const order: number[] = [];
  while (order.length < adds) {
    const index = Math.floor(Math.random() * users);
    if (!picked.has(index)) {
      picked.add(index);
      order.push(index);
    }
  }
  return order;
}

async function growthRound(ctx: BenchContext, table: GrowthTable, round: number): Promise<GrowthRecord> {
  const conns = ctx.knobs.connections;
  const tag = `growth-${table.users}-r${round}`;
  const heartbeat = await serviceRun(
    ctx,
    service(table),
    `${tag}-heartbeat`,
    `heartbeats on random users of ${table.users} in the table`,
    {
      connections: conns,
      amount: ctx.knobs.growthHeartbeats,
      requests: [
        dynamicPost(() => apiRequest('heartbeat', { userId: growthUser(table.heartbeatUser()), streamId: 's1' })),
      ],
    },
  );
  const perRound = Math.floor(table.addOrder.length / GROWTH_ROUNDS);
  const users = table.addOrder.slice((round - 1) * perRound, round * perRound);
  let next = 0;
  const add = await serviceRun(
    ctx,
    service(table),
    `${tag}-add`,
    `adds of a 2nd/3rd stream for users of ${table.users} in the table`,
    {
      connections: conns,
      amount: users.length,
      requests: [
        dynamicPost(() =>
          apiRequest('add', { userId: growthUser(users[next % users.length]!), streamId: `a${round}-${next++}` }),
        ),
      ],
    },
  );
  return { usersInTable: table.users, round, heartbeat, add };
}

const service = (table: GrowthTable) => table.service;

/**
 * Two tables, few and many users, each with its own service process (the
 * same build and settings). Both are warmed, then measured in alternation,
 * round after round, so that drift on this shared machine (and JIT warm-up)
 * does not favour whichever size would be measured first.
 */
export async function runGrowth(ctx: BenchContext): Promise<{ records: GrowthRecord[]; seeding: SeedRecord[] }> {
  const { knobs, log, proxy, dynamoEndpoint } = ctx;
  const small = Math.min(knobs.growthSmallUsers, knobs.growthUsers);
  const smallService = await startService(knobs, 'bench-growth-small', proxy.endpoint);
  const largeService = await startService(knobs, 'bench-growth-large', proxy.endpoint);
  try {
    const now = Date.now();
    const seeding = [
      await seed(ctx, dynamoEndpoint, 'bench-growth-small', small, now),
      await seed(ctx, dynamoEndpoint, 'bench-growth-large', knobs.growthUsers, now),
    ];
    const tables: GrowthTable[] = [
      {
        service: smallService,
        users: seeding[0]!.users,
        heartbeatUser: heartbeatPicker(seeding[0]!.users),
        addOrder: addOrder(seeding[0]!.users, knobs.growthAdds),
      },
      {
        service: largeService,
        users: seeding[1]!.users,
        heartbeatUser: heartbeatPicker(seeding[1]!.users),
        addOrder: addOrder(seeding[1]!.users, knobs.growthAdds),
      },
    ];
    for (const table of tables) {
      log(`growth: warm-up ${knobs.serviceWarmupS} s of heartbeats on ${table.users} seeded users (not measured)`);
      await runLoad({
        title: 'warm-up',
        url: table.service.url,
        connections: knobs.connections,
        durationS: knobs.serviceWarmupS,
        requests: [
          dynamicPost(() => ({
            path: '/streams/heartbeat',
            body: { userId: growthUser(table.heartbeatUser()), streamId: 's1' },
          })),
        ],
      });
    }
    const records: GrowthRecord[] = [];
    for (let round = 1; round <= GROWTH_ROUNDS; round++) {
      for (const table of tables) records.push(await growthRound(ctx, table, round));
    }
    return { records, seeding };
  } finally {
    await Promise.all([stopChild(smallService.child), stopChild(largeService.child)]);
  }
}
