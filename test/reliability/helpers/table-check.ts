import { DynamoDBClient, GetItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

/** The contract's id patterns (CONTRACT.md, Identifiers). */
export const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+-]*$/;
export const STREAM_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const METADATA_KEY = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const TOP_LEVEL = new Set(['userId', 'ver', 'cnt', 'tcnt', 'gcAt', 'lim', 'pin']);

export const validUserId = (id: string) => id.length >= 1 && id.length <= 128 && USER_ID.test(id);
export const validStreamId = (id: string) => id.length >= 1 && id.length <= 64 && STREAM_ID.test(id);

/** A raw DynamoDB client for the test's own reads (the service's store is the thing under test). */
export function rawClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

export type RawItem = Record<string, unknown>;

export async function getRawItem(client: DynamoDBClient, table: string, userId: string): Promise<RawItem | undefined> {
  const output = await client.send(
    new GetItemCommand({ TableName: table, Key: { userId: { S: userId } }, ConsistentRead: true }),
  );
  return output.Item ? unmarshall(output.Item) : undefined;
}

export async function scanTable(client: DynamoDBClient, table: string): Promise<RawItem[]> {
  const items: RawItem[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({ TableName: table, ExclusiveStartKey: start, ConsistentRead: true }),
    );
    for (const item of page.Items ?? []) items.push(unmarshall(item));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/** Live leases (expiresAt > now) of a raw item, by streamId. */
export function liveLeasesOf(item: RawItem | undefined, now: number): Map<string, { s: number; e: number }> {
  const live = new Map<string, { s: number; e: number }>();
  for (const [name, value] of Object.entries(item ?? {})) {
    if (!name.startsWith('L:')) continue;
    const lease = value as { s: number; e: number };
    if (lease.e > now) live.set(name.slice(2), lease);
  }
  return live;
}

/**
 * Everything wrong with one stored item, judged against the item layout
 * (src/store/table.ts) and the contract's id patterns; empty when valid.
 */
export function itemProblems(item: RawItem): string[] {
  const problems: string[] = [];
  const userId = item.userId;
  const where = `item ${JSON.stringify(userId)}`;
  if (typeof userId !== 'string' || !validUserId(userId)) problems.push(`${where}: userId does not match the contract`);
  let leases = 0;
  let terminations = 0;
  for (const [name, value] of Object.entries(item)) {
    if (TOP_LEVEL.has(name)) continue;
    const isLease = name.startsWith('L:');
    const isTermination = name.startsWith('T:');
    if (!isLease && !isTermination) {
      problems.push(`${where}: unexpected attribute ${JSON.stringify(name)}`);
      continue;
    }
    const streamId = name.slice(2);
    if (!validStreamId(streamId))
      problems.push(`${where}: attribute ${JSON.stringify(name)} holds an invalid streamId`);
    const entry = value as Record<string, unknown>;
    if (typeof entry !== 'object' || entry === null) {
      problems.push(`${where}: ${name} is not a map`);
      continue;
    }
    if (isLease) {
      leases++;
      if (typeof entry.s !== 'number' || typeof entry.e !== 'number' || !(entry.e > entry.s)) {
        problems.push(`${where}: ${name} lacks numeric s < e`);
      }
      if (entry.d !== undefined && (typeof entry.d !== 'string' || entry.d.length > 128 || !USER_ID.test(entry.d))) {
        problems.push(`${where}: ${name} has an invalid deviceId`);
      }
      if (entry.m !== undefined) {
        const metadata = entry.m as Record<string, unknown>;
        const keys = typeof metadata === 'object' && metadata !== null ? Object.keys(metadata) : [];
        if (keys.length === 0 && !(typeof metadata === 'object' && metadata !== null))
          problems.push(`${where}: ${name} metadata is not a map`);
        if (keys.length > 10) problems.push(`${where}: ${name} metadata has ${keys.length} entries`);
        for (const key of keys) {
          const text = metadata[key];
          if (!METADATA_KEY.test(key) || key.length > 64)
            problems.push(`${where}: ${name} metadata key ${JSON.stringify(key)} is invalid`);
          if (typeof text !== 'string' || [...text].length > 256)
            problems.push(`${where}: ${name} metadata.${key} is not a string of <= 256 characters`);
        }
      }
      for (const key of Object.keys(entry)) {
        if (!['s', 'e', 'd', 'm'].includes(key)) problems.push(`${where}: ${name} has unexpected member ${key}`);
      }
    } else {
      terminations++;
      if (typeof entry.a !== 'number' || (entry.r !== 'removed' && entry.r !== 'replaced')) {
        problems.push(`${where}: ${name} lacks numeric a and a known reason`);
      }
      if (entry.b !== undefined && (typeof entry.b !== 'string' || !validStreamId(entry.b)))
        problems.push(`${where}: ${name} replacedBy is invalid`);
    }
  }
  if (item.cnt !== leases) problems.push(`${where}: cnt ${String(item.cnt)} but ${leases} L: attributes`);
  if (item.tcnt !== terminations)
    problems.push(`${where}: tcnt ${String(item.tcnt)} but ${terminations} T: attributes`);
  if (typeof item.ver !== 'number') problems.push(`${where}: ver is not a number`);
  if (item.lim !== undefined && (typeof item.lim !== 'number' || item.lim < 0 || item.lim > 100))
    problems.push(`${where}: lim out of range`);
  return problems;
}
