import http from 'node:http';

/*
 * DynamoDB's JSON protocol spoken directly, for what the bench does outside
 * the service: create the floor table, seed the growth table, and the raw
 * UpdateItem the service is compared with. DynamoDB Local does not check
 * signatures, but picks its database by the access key and region named in
 * Authorization, so this names the same ones as the service (local, us-east-1).
 */
export const dynamoHeaders = (operation: string): Record<string, string> => ({
  'content-type': 'application/x-amz-json-1.0',
  'x-amz-target': `DynamoDB_20120810.${operation}`,
  authorization:
    'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0',
});

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export async function dynamoCall<T = Record<string, unknown>>(
  endpoint: string,
  operation: string,
  body: unknown,
): Promise<T> {
  const url = new URL(endpoint);
  return new Promise<T>((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, method: 'POST', path: '/', agent, headers: dynamoHeaders(operation) },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (response.statusCode !== 200)
            reject(new Error(`${operation}: HTTP ${response.statusCode} ${text.slice(0, 300)}`));
          else resolve((text ? JSON.parse(text) : {}) as T);
        });
      },
    );
    request.on('error', reject);
    request.end(JSON.stringify(body));
  });
}

export async function createTable(endpoint: string, table: string): Promise<void> {
  await dynamoCall(endpoint, 'CreateTable', {
    TableName: table,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: 'userId', AttributeType: 'S' }],
    KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }],
  });
}

type AttributeValue = { S: string } | { N: string } | { M: Record<string, AttributeValue> };

/**
 * An item shaped like the service's own: one user holding one live lease `s1` of weight 1 (see
 * src/store/table.ts). The slot counters (sl, z) matter: the store takes an item with cnt but no sl
 * for one written before weights and decides its adds by the rules (two calls instead of one).
 */
export function seededUser(userId: string, now: number, leaseMs: number): Record<string, AttributeValue> {
  const expires = now + leaseMs;
  return {
    userId: { S: userId },
    ver: { N: '1' },
    cnt: { N: '1' },
    sl: { N: '1' },
    z: { N: '0' },
    gcAt: { N: String(Math.ceil(expires / 1000) + 3600) },
    'L:s1': { M: { s: { N: String(now) }, e: { N: String(expires) }, w: { N: '1' } } },
  };
}

/**
 * Writes users [from, to) with BatchWriteItem, 25 items a call, `writers`
 * calls in flight, retrying unprocessed items; reports progress. Resolves
 * with the end of the range written (`to`, or less when told to stop).
 */
export async function seedUsers(options: {
  endpoint: string;
  table: string;
  from: number;
  to: number;
  writers: number;
  userId: (index: number) => string;
  now: number;
  leaseMs: number;
  onProgress: (written: number) => void;
  /** Stop taking new batches once this returns true (the batches in flight still complete). */
  shouldStop?: () => boolean;
}): Promise<number> {
  let next = options.from;
  let written = 0;
  const writer = async () => {
    while (next < options.to && !options.shouldStop?.()) {
      const start = next;
      next = Math.min(options.to, next + 25);
      let requests: unknown[] = [];
      for (let index = start; index < next; index++) {
        requests.push({ PutRequest: { Item: seededUser(options.userId(index), options.now, options.leaseMs) } });
      }
      const count = requests.length;
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 20 * 2 ** attempt)));
        const answer = await dynamoCall<{ UnprocessedItems?: Record<string, unknown[]> }>(
          options.endpoint,
          'BatchWriteItem',
          {
            RequestItems: { [options.table]: requests },
          },
        );
        requests = answer.UnprocessedItems?.[options.table] ?? [];
      }
      written += count;
      options.onProgress(written);
    }
  };
  await Promise.all(Array.from({ length: options.writers }, writer));
  // Batches are taken in order and each one taken is finished, so [from, next) is all written.
  return next;
}

/** The service's heartbeat write (LeaseStore's renewal: condition, version bump, gcAt, ALL_NEW), for the floors and the forwarder. */
export function heartbeatUpdate(
  table: string,
  userId: string,
  streamId: string,
  now: number,
  leaseMs = 90_000,
): Record<string, unknown> {
  return {
    TableName: table,
    Key: { userId: { S: userId } },
    UpdateExpression: 'SET #n0.#n1 = :v1, #n2 = #n2 + :v2, #n3 = if_not_exists(#n4, :v3)',
    ConditionExpression: '#n0.#n1 > :v0',
    ExpressionAttributeNames: { '#n0': `L:${streamId}`, '#n1': 'e', '#n2': 'ver', '#n3': 'gcAt', '#n4': 'pin' },
    ExpressionAttributeValues: {
      ':v0': { N: String(now) },
      ':v1': { N: String(now + leaseMs) },
      ':v2': { N: '1' },
      ':v3': { N: String(Math.ceil((now + leaseMs) / 1000) + 3600) },
    },
    ReturnValues: 'ALL_NEW',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}
