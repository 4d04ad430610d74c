/*
 * Measured runs of API load against a service: what was sent, what the proxy counted, what each
 * process spent, as one RunRecord.
 */
import type { BenchContext } from './context';
import { runLoad, type LoadOptions, type LoadResult } from './load';
import { round, startCpuMeter } from './processes';
import { settle } from './proxy';
import type { Service } from './service';
import { distribution } from './stats';
import type { RunRecord } from './types';

/** API requests sent, per kind, as autocannon built them (a request is written right after it is built). */
const sent: Record<string, number> = { add: 0, heartbeat: 0, remove: 0 };

export function apiRequest(
  kind: 'add' | 'heartbeat' | 'remove',
  body: Record<string, unknown>,
): { path: string; body: unknown } {
  sent[kind] = (sent[kind] ?? 0) + 1;
  return { path: `/streams/${kind}`, body };
}

export function toRecord(name: string, label: string, result: LoadResult, extra: Partial<RunRecord> = {}): RunRecord {
  const non2xx: Record<string, number> = {};
  for (const [status, count] of Object.entries(result.statuses)) {
    if (Number(status) < 200 || Number(status) >= 300) non2xx[status] = count;
  }
  return {
    name,
    label,
    connections: result.connections,
    wallS: result.wallS,
    responses: result.responses,
    requestsPerSecond: result.requestsPerSecond,
    latencyMs: result.latencyMs,
    statuses: result.statuses,
    non2xx,
    errors: result.errors,
    distribution: distribution(result.samples),
    ...extra,
  };
}

/**
 * One measured run against the service: resets the proxy's counts first, and
 * reads them (and the service's CPU time) once the requests still in flight
 * when autocannon stopped have finished.
 */
export async function serviceRun(
  { log, javaPid, proxy }: BenchContext,
  service: Pick<Service, 'url' | 'pid'>,
  name: string,
  label: string,
  load: Omit<LoadOptions, 'url' | 'title'>,
  extra: Partial<RunRecord> = {},
): Promise<RunRecord> {
  log(`${name}: ${label}`);
  await settle(proxy);
  await proxy.reset();
  const before = { ...sent };
  const meter = startCpuMeter({ proxy: proxy.child.pid, service: service.pid, 'DynamoDB Local': javaPid });
  const result = await runLoad({ ...load, title: name, url: service.url });
  await settle(proxy);
  const byOperation = await proxy.counts();
  const apiRequests: Record<string, number> = {};
  for (const kind of Object.keys(sent)) {
    const count = (sent[kind] ?? 0) - (before[kind] ?? 0);
    if (count > 0) apiRequests[kind] = count;
  }
  const total = Object.values(byOperation).reduce((sum, count) => sum + count, 0);
  const apiTotal = Object.values(apiRequests).reduce((sum, count) => sum + count, 0);
  const cpuUsPerRequest = meter.stop(apiTotal);
  const per: Record<string, number> = { 'API request': round(total / apiTotal, 4) };
  const kinds = Object.keys(apiRequests);
  if (kinds.length === 1) {
    per[kinds[0]!] = round(total / apiTotal, 4);
    for (const [operation, count] of Object.entries(byOperation))
      per[`${operation} per ${kinds[0]}`] = round(count / apiTotal, 4);
  } else if (kinds.length === 2 && apiRequests.add && apiRequests.remove) {
    per['add+remove pair'] = round((2 * total) / apiTotal, 4);
    for (const [operation, count] of Object.entries(byOperation))
      per[`${operation} per pair`] = round((2 * count) / apiTotal, 4);
  }
  const record = toRecord(name, label, result, {
    apiRequests,
    dynamo: { byOperation, total, per },
    cpuUsPerRequest,
    ...extra,
  });
  const { p50, p99, p999 } = record.latencyMs;
  log(
    `  ${record.responses} answers, ${record.requestsPerSecond} req/s, p50 ${p50} p99 ${p99} p99.9 ${p999} ms, ` +
      `statuses ${JSON.stringify(record.statuses)}, errors ${JSON.stringify(record.errors)}, DynamoDB ${JSON.stringify(byOperation)} ` +
      `for ${JSON.stringify(apiRequests)}`,
  );
  return record;
}
