import { DynamoDBClient, GetItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

/** The contract's id patterns (CONTRACT.md, Identifiers). */
export const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+-]*$/;
export const STREAM_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const METADATA_KEY = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const TOP_LEVEL = new Set(['userId', 'ver', 'cnt', 'gcAt', 'lim', 'pin']);
/** Slots of the termination ring (LeasePolicy.maxTerminations). */
const RING_SLOTS = 8;

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
  if (typeof userId === 'string' && userId.includes('#')) return displayItemProblems(item, userId);
  if (typeof userId !== 'string' || !validUserId(userId)) problems.push(`${where}: userId does not match the contract`);
  let leases = 0;
  problems.push(...ringProblems(item.T, where));
  for (const [name, value] of Object.entries(item)) {
    if (TOP_LEVEL.has(name) || name === 'T') continue;
    const isLease = name.startsWith('L:');
    if (!isLease) {
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
        if (!['s', 'e', 'd', 'm', 'x'].includes(key)) problems.push(`${where}: ${name} has unexpected member ${key}`);
      }
      if (entry.x !== undefined && (entry.d !== undefined || entry.m !== undefined))
        problems.push(`${where}: ${name} has display data both inline and in a display item`);
    }
  }
  if (item.cnt !== leases) problems.push(`${where}: cnt ${String(item.cnt)} but ${leases} L: attributes`);
  if (typeof item.ver !== 'number') problems.push(`${where}: ver is not a number`);
  if (item.lim !== undefined && (typeof item.lim !== 'number' || item.lim < 0 || item.lim > 100))
    problems.push(`${where}: lim out of range`);
  return problems;
}

/** The termination ring: exactly RING_SLOTS slots, each empty or a valid termination. */
function ringProblems(ring: unknown, where: string): string[] {
  if (ring === undefined) return [];
  if (!Array.isArray(ring) || ring.length !== RING_SLOTS) return [`${where}: T is not a list of ${RING_SLOTS} slots`];
  const problems: string[] = [];
  for (const slot of ring as Record<string, unknown>[]) {
    if (Object.keys(slot).length === 0) continue;
    if (typeof slot.i !== 'string' || !validStreamId(slot.i)) problems.push(`${where}: a termination names an invalid streamId`);
    if (typeof slot.a !== 'number' || (slot.r !== 'r' && slot.r !== 'p'))
      problems.push(`${where}: a termination lacks numeric a and a known reason`);
    if (slot.b !== undefined && (typeof slot.b !== 'string' || !validStreamId(slot.b)))
      problems.push(`${where}: a termination's replacedBy is invalid`);
  }
  return problems;
}

/** A display item: "<userId>#<streamId>", its token, and display data within the contract's bounds. */
function displayItemProblems(item: RawItem, key: string): string[] {
  const where = `display item ${JSON.stringify(key)}`;
  const [userId = '', streamId = '', ...rest] = key.split('#');
  const problems: string[] = [];
  if (rest.length > 0 || !validUserId(userId) || !validStreamId(streamId)) problems.push(`${where}: key is not <userId>#<streamId>`);
  if (typeof item.x !== 'string') problems.push(`${where}: no token`);
  if (typeof item.gcAt !== 'number') problems.push(`${where}: no numeric gcAt`);
  if (item.d !== undefined && (typeof item.d !== 'string' || item.d.length > 128 || !USER_ID.test(item.d)))
    problems.push(`${where}: invalid deviceId`);
  for (const name of Object.keys(item)) {
    if (!['userId', 'x', 'd', 'm', 'gcAt'].includes(name)) problems.push(`${where}: unexpected attribute ${name}`);
  }
  return problems;
}
