/*
 * The scenarios part: (1) add+remove cycles; (2a) new users admitted; (2) heartbeats on their
 * streams, then the same through ref-forwarder (the least any process in the service's place can
 * cost) and (2l) at low concurrency; (2b) removing them; (3) adds for users already at the limit;
 * (4) new users pressing play at once. Each c=32 run is preceded by its paired floor.
 */
import path from 'node:path';
import type { BenchContext } from '../lib/context';
import { floorRequest } from '../lib/floor-requests';
import { dynamicPost, runLoad, type ConnectionRequest } from '../lib/load';
import { scratchDir } from '../lib/paths';
import { stopChild } from '../lib/processes';
import { post, type Service } from '../lib/service';
import { apiRequest, serviceRun } from '../lib/service-run';
import { startCpuServer } from '../lib/stub-servers';
import type { RunRecord } from '../lib/types';

/** Add then remove of the same fresh stream, per connection, over `users` users in turn (a user is never in two pairs at once). */
function addRemoveCycle(prefix: string, users: number): ConnectionRequest {
  let cursor = 0;
  let stream = 0;
  return dynamicPost((state) => {
    const pending = state.pending as Record<string, unknown> | undefined;
    if (pending) {
      state.pending = undefined;
      return apiRequest('remove', pending);
    }
    const body = { userId: `${prefix}-${cursor++ % users}`, streamId: `c${stream++}` };
    state.pending = body;
    return apiRequest('add', body);
  });
}

/**
 * Scenarios 1 to 4 against one service, in order (each leaves the state the next expects);
 * `afterConcurrent` runs between the c=32 scenarios (1 to 3) and the cold-start burst (4).
 */
export async function runScenarios(
  ctx: BenchContext,
  service: Service,
  afterConcurrent: () => Promise<void>,
): Promise<RunRecord[]> {
  const { knobs, log, proxy } = ctx;
  const conns = knobs.connections;
  const users = knobs.users;
  const records: RunRecord[] = [];
  /** The raw UpdateItem through the proxy, measured just before a run: on a shared machine, its fairest floor. */
  const pairedFloor = async (): Promise<NonNullable<RunRecord['pairedFloor']>> => {
    const floor = await runLoad({
      title: 'paired floor',
      url: proxy.endpoint,
      connections: conns,
      durationS: knobs.pairedFloorS,
      requests: [floorRequest()],
    });
    const { p50, p99, p999 } = floor.latencyMs;
    log(
      `  paired floor (raw UpdateItem via proxy, ${knobs.pairedFloorS} s): p50 ${p50} p99 ${p99} ms, ${floor.requestsPerSecond} req/s`,
    );
    return { p50, p99, p999, requestsPerSecond: floor.requestsPerSecond, durationS: knobs.pairedFloorS };
  };

  log(`warm-up: ${knobs.serviceWarmupS} s of add+remove cycles on other users (not measured)`);
  await runLoad({
    title: 'warm-up',
    url: service.url,
    connections: conns,
    durationS: knobs.serviceWarmupS,
    requests: [addRemoveCycle('warm', users)],
  });

  records.push(
    await serviceRun(
      ctx,
      service,
      '1-add-remove',
      `add+remove cycles, ${users} users, fresh streamId per pair`,
      { connections: conns, durationS: knobs.durationS, requests: [addRemoveCycle('cy', users)] },
      { pairedFloor: await pairedFloor() },
    ),
  );

  let admitted = 0;
  records.push(
    await serviceRun(
      ctx,
      service,
      '2a-admit',
      `pre-admit 1 stream for each of ${users} new users (add only)`,
      {
        connections: conns,
        amount: users,
        requests: [dynamicPost(() => apiRequest('add', { userId: `hb-${admitted++}`, streamId: 'p1' }))],
      },
      { pairedFloor: await pairedFloor() },
    ),
  );
  let beat = 0;
  /** Heartbeats on the streams 2a admitted, the users in turn (shared by the runs that follow, so they keep going round). */
  const roundRobinHeartbeats = () =>
    dynamicPost(() => apiRequest('heartbeat', { userId: `hb-${beat++ % users}`, streamId: 'p1' }));
  records.push(
    await serviceRun(
      ctx,
      service,
      '2-heartbeat',
      `heartbeats on the ${users} live streams, round robin`,
      {
        connections: conns,
        durationS: knobs.durationS,
        requests: [roundRobinHeartbeats()],
      },
      { pairedFloor: await pairedFloor() },
    ),
  );
  // The same heartbeats through the least a service can be (see cpu-server.ts, forwarder): the floor for any process there.
  const forwarder = await startCpuServer('forwarder', path.join(scratchDir, 'forwarder.log'), knobs.serviceNodeFlags, {
    FORWARD_DYNAMODB_ENDPOINT: proxy.endpoint,
    FORWARD_TABLE: service.env.DYNAMODB_TABLE ?? 'bench-leases',
  });
  try {
    records.push(
      await serviceRun(
        ctx,
        { url: forwarder.url, pid: forwarder.child.pid! },
        'ref-forwarder',
        'not the service: the same heartbeats through a bare node:http handler that sends their UpdateItem with DynamoWire and answers JSON',
        {
          connections: conns,
          durationS: knobs.durationS,
          requests: [roundRobinHeartbeats()],
        },
        { pairedFloor: await pairedFloor() },
      ),
    );
  } finally {
    await stopChild(forwarder.child);
  }
  // The same heartbeats at low concurrency: per-request latency when the run itself does not saturate the 2 cores.
  // (autocannon's overallRate is not used for this: it releases each connection's quota in a burst every second.)
  const lowConns = knobs.lowConnections;
  const lowFloor = await runLoad({
    title: 'low floor',
    url: proxy.endpoint,
    connections: lowConns,
    durationS: knobs.pairedFloorS,
    requests: [floorRequest()],
  });
  log(
    `  floor at c=${lowConns} (raw UpdateItem via proxy): p50 ${lowFloor.latencyMs.p50} p99 ${lowFloor.latencyMs.p99} ms`,
  );
  records.push(
    await serviceRun(
      ctx,
      service,
      `2l-heartbeat-c${lowConns}`,
      `the same heartbeats at concurrency ${lowConns}`,
      {
        connections: lowConns,
        durationS: knobs.lowS,
        requests: [roundRobinHeartbeats()],
      },
      {
        pairedFloor: {
          p50: lowFloor.latencyMs.p50,
          p99: lowFloor.latencyMs.p99,
          p999: lowFloor.latencyMs.p999,
          requestsPerSecond: lowFloor.requestsPerSecond,
          durationS: knobs.pairedFloorS,
        },
      },
    ),
  );

  let released = 0;
  records.push(
    await serviceRun(
      ctx,
      service,
      '2b-remove',
      `remove each of the ${users} live streams once`,
      {
        connections: conns,
        amount: users,
        requests: [dynamicPost(() => apiRequest('remove', { userId: `hb-${released++}`, streamId: 'p1' }))],
      },
      { pairedFloor: await pairedFloor() },
    ),
  );

  const hot = knobs.contentionUsers;
  const floorBeforeContention = await pairedFloor();
  for (let user = 0; user < hot; user++) {
    for (let stream = 0; stream < 3; stream++) {
      const answer = await post(`${service.url}/streams/add`, { userId: `ct-${user}`, streamId: `pre-${stream}` });
      if (answer.status !== 201)
        throw new Error(`contention setup: add answered ${answer.status} ${JSON.stringify(answer.body)}`);
    }
  }
  let contended = 0;
  const contention = await serviceRun(
    ctx,
    service,
    '3-contention',
    `adds of fresh streams for ${hot} users already at the limit (3), ${conns} connections`,
    {
      connections: conns,
      durationS: knobs.durationS,
      requests: [
        dynamicPost(() => apiRequest('add', { userId: `ct-${contended % hot}`, streamId: `x${contended++}` })),
      ],
    },
    { pairedFloor: floorBeforeContention },
  );
  let maxActive = 0;
  for (let user = 0; user < hot; user++) {
    const listing = (await (await fetch(`${service.url}/users/ct-${user}/streams`)).json()) as {
      activeStreams: number;
    };
    maxActive = Math.max(maxActive, listing.activeStreams);
  }
  records.push({
    ...contention,
    note: `409 STREAM_LIMIT_REACHED is the expected answer here, not an error; afterwards the most live streams any of these users held: ${maxActive} (limit 3)`,
  });

  await afterConcurrent();

  let cold = 0;
  const coldConnections = Math.min(knobs.coldConnections, knobs.coldUsers);
  records.push(
    await serviceRun(
      ctx,
      service,
      '4-cold-start',
      `${knobs.coldUsers} new users press play at once: 1 add each, ${coldConnections} connections`,
      {
        connections: coldConnections,
        amount: knobs.coldUsers,
        timeoutS: 30,
        requests: [dynamicPost(() => apiRequest('add', { userId: `cold-${cold++}`, streamId: 's1' }))],
      },
    ),
  );
  return records;
}
