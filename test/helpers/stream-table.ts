import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../src/config';
import { leasePolicy } from '../../src/leases/policy';
import { LeaseStore } from '../../src/store/lease-store';
import { testEndpoint } from './test-app';

/**
 * A fresh table with a DynamoDB stream (what GET /streams/events and the fan-out read); only the
 * files that need one pay DynamoDB Local's per-record stream cost.
 */
export async function streamTable(prefix: string): Promise<string> {
  const table = `${prefix}-${randomUUID()}`;
  const config = loadConfig({ DYNAMODB_ENDPOINT: testEndpoint(), DYNAMODB_TABLE: table });
  const store = new LeaseStore({
    endpoint: { kind: 'url', url: testEndpoint() },
    region: config.region,
    table,
    timeoutMs: 10_000,
    policy: leasePolicy(config),
  });
  await store.ensureTable({ stream: true });
  store.destroy();
  return table;
}
