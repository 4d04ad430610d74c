/*
 * The floor part: raw UpdateItem at the scenarios' concurrency, straight to DynamoDB Local and
 * through the proxy, before and after the scenarios; also the service's own heartbeat UpdateItem
 * sent raw, and the plain one sent in-process by the service's client (DynamoWire) and by the AWS
 * SDK v3 client it replaced.
 */
import http from 'node:http';
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DynamoWire } from '../../src/store/dynamo-wire';
import type { BenchContext } from '../lib/context';
import { FLOOR_TABLE, floorRequest, heartbeatShapedRequest } from '../lib/floor-requests';
import { runLoad, type ConnectionRequest, type LoadResult } from '../lib/load';
import { round, startCpuMeter } from '../lib/processes';
import { toRecord } from '../lib/service-run';
import { Samples, summarize } from '../lib/stats';
import type { RunRecord } from '../lib/types';

interface FloorClient {
  send(worker: number, sequence: number): Promise<unknown>;
  close(): void;
}

const plainUpdate = (prefix: string, worker: number, sequence: number) => ({
  TableName: FLOOR_TABLE,
  Key: { userId: { S: `${prefix}-${worker}` } },
  UpdateExpression: 'SET #c = :c',
  ExpressionAttributeNames: { '#c': 'c' },
  ExpressionAttributeValues: { ':c': { N: String(sequence) } },
  ReturnValues: 'ALL_NEW' as const,
});

/** The AWS SDK v3 client, configured as the service configured it before it sent its item writes itself. */
function sdkFloorClient(endpoint: string): FloorClient {
  const agent = { keepAlive: true, maxSockets: 512 };
  const client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint,
    maxAttempts: 3,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler({
      connectionTimeout: 1000,
      requestTimeout: 1000,
      httpAgent: new http.Agent(agent),
    }),
  });
  return {
    send: (worker, sequence) => client.send(new UpdateItemCommand(plainUpdate('sdk', worker, sequence))),
    close: () => client.destroy(),
  };
}

/** DynamoWire, the client the service sends its item reads and writes with (src/store/dynamo-wire.ts). */
function wireFloorClient(endpoint: string): FloorClient {
  const wire = new DynamoWire({
    endpoint: new URL(endpoint),
    region: 'us-east-1',
    credentials: async () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
  });
  return {
    send: (worker, sequence) => wire.call('UpdateItem', plainUpdate('wire', worker, sequence), Date.now() + 1000),
    close: () => wire.destroy(),
  };
}

async function clientFloor(client: FloorClient, connections: number, durationS: number): Promise<LoadResult> {
  const samples = new Samples();
  let failures = 0;
  const started = performance.now();
  const end = started + durationS * 1000;
  await Promise.all(
    Array.from({ length: connections }, async (_, worker) => {
      for (let sequence = 0; performance.now() < end; sequence++) {
        const begun = performance.now();
        try {
          await client.send(worker, sequence);
          samples.add(performance.now() - begun);
        } catch {
          failures++;
        }
      }
    }),
  );
  client.close();
  const wallS = (performance.now() - started) / 1000;
  return {
    title: 'client',
    connections,
    wallS: round(wallS, 3),
    responses: samples.count,
    requestsPerSecond: Math.round(samples.count / wallS),
    latencyMs: summarize(samples),
    statuses: { 200: samples.count },
    errors: { status5xx: 0, connectionErrors: failures, timeouts: 0 },
    samples,
  };
}

export async function runFloors(ctx: BenchContext, phase: 'before' | 'after'): Promise<RunRecord[]> {
  const { knobs, log, javaPid, proxy, dynamoEndpoint: direct } = ctx;
  const conns = knobs.connections;
  const durationS = knobs.floorDurationS;
  const records: RunRecord[] = [];
  const raw = async (name: string, label: string, url: string, request: ConnectionRequest) => {
    log(`${name}: ${label}`);
    await proxy.reset();
    const meter = startCpuMeter({ ...(url !== direct && { proxy: proxy.child.pid }), 'DynamoDB Local': javaPid });
    const result = await runLoad({ title: name, url, connections: conns, durationS, requests: [request] });
    const cpuUsPerRequest = meter.stop(result.responses);
    const byOperation = await proxy.counts();
    const record = toRecord(name, label, result, {
      cpuUsPerRequest,
      ...(url !== direct && {
        dynamo: { byOperation, total: Object.values(byOperation).reduce((sum, count) => sum + count, 0), per: {} },
      }),
    });
    log(
      `  ${record.requestsPerSecond} req/s, p50 ${record.latencyMs.p50} p99 ${record.latencyMs.p99} ms, statuses ${JSON.stringify(record.statuses)}`,
    );
    records.push(record);
  };
  if (phase === 'before') {
    // DynamoDB Local's JVM needs tens of seconds of traffic before its JIT settles (CPU per UpdateItem falls several-fold).
    log(`warm-up: ${knobs.dynamoWarmupS} s of raw UpdateItems, plain and heartbeat-shaped (not measured)`);
    const half = knobs.dynamoWarmupS / 2;
    await runLoad({ title: 'warm-up', url: direct, connections: conns, durationS: half, requests: [floorRequest()] });
    await runLoad({
      title: 'warm-up',
      url: proxy.endpoint,
      connections: conns,
      durationS: half,
      requests: [heartbeatShapedRequest()],
    });
  }
  await raw(
    `floor-direct-${phase}`,
    'raw UpdateItem SET on a per-connection item, straight to DynamoDB Local',
    direct,
    floorRequest(),
  );
  await raw(
    `floor-proxy-${phase}`,
    'the same, through the counting proxy (the path the service uses)',
    proxy.endpoint,
    floorRequest(),
  );
  if (phase === 'before') {
    await raw(
      'floor-shaped-proxy',
      "the service's own heartbeat UpdateItem (condition, ALL_NEW), raw, through the proxy",
      proxy.endpoint,
      heartbeatShapedRequest(),
    );
  }
  const viaClient = async (name: string, label: string, client: FloorClient) => {
    log(`${name}: ${label}`);
    const meter = startCpuMeter({ proxy: proxy.child.pid, 'DynamoDB Local': javaPid });
    const result = await clientFloor(client, conns, durationS);
    const cpuUsPerRequest = meter.stop(result.responses);
    records.push(
      toRecord(name, label, result, {
        cpuUsPerRequest,
        note: 'here the load generator is the client named, so its CPU per request is that client’s',
      }),
    );
    log(
      `  ${result.requestsPerSecond} req/s, p50 ${result.latencyMs.p50} p99 ${result.latencyMs.p99} ms, client CPU ${cpuUsPerRequest['load generator']} µs per call`,
    );
  };
  await viaClient(
    `floor-wire-proxy-${phase}`,
    'the plain UpdateItem sent by DynamoWire, the service’s own DynamoDB client (signed JSON over keep-alive), through the proxy',
    wireFloorClient(proxy.endpoint),
  );
  await viaClient(
    `floor-sdk-proxy-${phase}`,
    'the plain UpdateItem sent by the AWS SDK v3 client (DynamoDBClient, as the service configured it before DynamoWire), through the proxy',
    sdkFloorClient(proxy.endpoint),
  );
  return records;
}
