/*
 * The floor: a raw UpdateItem per request, straight over HTTP, on a table of its own. The floor part
 * measures it alone; the scenarios run it just before each of theirs as the paired floor.
 */
import { createTable, dynamoCall, dynamoHeaders, heartbeatUpdate, seededUser } from './dynamo-raw';
import type { ConnectionRequest } from './load';

export const FLOOR_TABLE = 'bench-floor';

/** A raw UpdateItem per request, straight over HTTP, on an item of the connection's own (`<prefix>-<n>`). */
function perConnectionUpdate(prefix: string, bodyFor: (key: string) => Record<string, unknown>): ConnectionRequest {
  let workers = 0;
  return {
    method: 'POST',
    path: '/',
    headers: dynamoHeaders('UpdateItem'),
    state: {},
    setupRequest: (request) => {
      const state = (request as ConnectionRequest).state;
      state.key ??= `${prefix}-${workers++}`;
      return { ...request, body: JSON.stringify(bodyFor(state.key as string)) };
    },
  };
}

/** UpdateItem `SET c = :n` on the connection's own item, ALL_NEW returned, straight over HTTP. */
export function floorRequest(): ConnectionRequest {
  let sequence = 0;
  return perConnectionUpdate('worker', (key) => ({
    TableName: FLOOR_TABLE,
    Key: { userId: { S: key } },
    UpdateExpression: 'SET #c = :c',
    ExpressionAttributeNames: { '#c': 'c' },
    ExpressionAttributeValues: { ':c': { N: String(++sequence) } },
    ReturnValues: 'ALL_NEW',
  }));
}

/** The service's own heartbeat write (same expression, condition and return values as LeaseStore.renewLease), on the connection's own item. */
export function heartbeatShapedRequest(): ConnectionRequest {
  return perConnectionUpdate('shaped', (key) => heartbeatUpdate(FLOOR_TABLE, key, 's1', Date.now()));
}

/** The floor table, with a heartbeat-shaped item (a live lease) for each of twice `connections` workers. */
export async function prepareFloorTable(endpoint: string, connections: number): Promise<void> {
  await createTable(endpoint, FLOOR_TABLE);
  const now = Date.now();
  const items = Array.from({ length: connections * 2 }, (_, worker) => ({
    PutRequest: { Item: seededUser(`shaped-${worker}`, now, 6 * 3600_000) },
  }));
  for (let start = 0; start < items.length; start += 25) {
    await dynamoCall(endpoint, 'BatchWriteItem', { RequestItems: { [FLOOR_TABLE]: items.slice(start, start + 25) } });
  }
}
