import { DynamoDBClient, GetItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';

/** The contract's id patterns (CONTRACT.md, Identifiers). */
export const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+-]*$/;
export const STREAM_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const METADATA_KEY = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const TOP_LEVEL = new Set(['userId', 'ver', 'cnt', 'sl', 'z', 'gcAt', 'lim', 'pol', 'pin']);
/** Slots of the termination ring (LeasePolicy.maxTerminations). */
const RING_SLOTS = 8;
/** The contract's admission policies, as a per-user override stores them. */
const POLICIES = ['block-new', 'evict-oldest'];
/** Ring reason codes: removed, replaced, evicted. The last two name the stream that took the slot. */
const REASONS: Record<string, 'removed' | 'replaced' | 'evicted'> = { r: 'removed', p: 'replaced', e: 'evicted' };

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

export interface RawLease {
  readonly s: number;
  readonly e: number;
  /** The stream's weight (slots it takes). */
  readonly w: number;
}

/** Live leases (expiresAt > now) of a raw item, by streamId. */
export function liveLeasesOf(item: RawItem | undefined, now: number): Map<string, RawLease> {
  const live = new Map<string, RawLease>();
  for (const [name, value] of Object.entries(item ?? {})) {
    if (!name.startsWith('L:')) continue;
    const lease = value as RawLease;
    if (lease.e > now) live.set(name.slice(2), lease);
  }
  return live;
}

/** The slots a raw item's live leases take at `now`: the contract's slotsInUse, read past the service. */
export function liveSlotsOf(item: RawItem | undefined, now: number): number {
  let slots = 0;
  for (const lease of liveLeasesOf(item, now).values()) slots += lease.w;
  return slots;
}

/** The termination ring's entries, oldest first, as the contract's reasons. */
export function ringOf(
  item: RawItem | undefined,
): Array<{ streamId: string; at: number; reason: string; by?: string }> {
  const ring = Array.isArray(item?.T) ? (item.T as Record<string, unknown>[]) : [];
  return ring
    .filter((slot) => typeof slot.i === 'string')
    .map((slot) => ({
      streamId: String(slot.i),
      at: Number(slot.a),
      reason: REASONS[String(slot.r)] ?? `unknown code ${String(slot.r)}`,
      ...(typeof slot.b === 'string' && { by: slot.b }),
    }));
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
  let slots = 0;
  let weightless = 0;
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
      // Every lease carries its weight: a remove subtracts it from sl in the same write without reading it.
      if (typeof entry.w !== 'number' || !Number.isInteger(entry.w) || entry.w < 0 || entry.w > 10) {
        problems.push(`${where}: ${name} lacks an integer weight w of 0-10`);
      } else {
        slots += entry.w;
        if (entry.w === 0) weightless++;
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
        if (!['s', 'e', 'w', 'd', 'm', 'x'].includes(key))
          problems.push(`${where}: ${name} has unexpected member ${key}`);
      }
      if (entry.x !== undefined && (entry.d !== undefined || entry.m !== undefined))
        problems.push(`${where}: ${name} has display data both inline and in a display item`);
    }
  }
  // An item only an override ever wrote (PUT /users/{id}/limit) has no counters yet: the first add gives it them.
  const neverHeldALease = item.cnt === undefined && item.sl === undefined && item.z === undefined && leases === 0;
  if (!neverHeldALease) {
    if (item.cnt !== leases) problems.push(`${where}: cnt ${String(item.cnt)} but ${leases} L: attributes`);
    // The fast paths trust these counters (an add proves room with sl and z alone), so they must never drift.
    if (item.sl !== slots) problems.push(`${where}: sl ${String(item.sl)} but the stored leases weigh ${slots}`);
    if (item.z !== weightless)
      problems.push(`${where}: z ${String(item.z)} but ${weightless} stored leases of weight 0`);
  }
  if (item.pol !== undefined && !POLICIES.includes(item.pol as string))
    problems.push(`${where}: pol ${JSON.stringify(item.pol)} is not an admission policy`);
  if ((item.lim !== undefined || item.pol !== undefined) !== (item.pin !== undefined))
    problems.push(`${where}: pin ${item.pin === undefined ? 'missing while' : 'set though no'} override is stored`);
  // An override pins the item: TTL ignores a string gcAt, so the override is never garbage-collected.
  if (item.pin !== undefined ? item.gcAt !== item.pin : typeof item.gcAt !== 'number')
    problems.push(`${where}: gcAt ${JSON.stringify(item.gcAt)} does not match pin ${JSON.stringify(item.pin)}`);
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
    if (typeof slot.i !== 'string' || !validStreamId(slot.i))
      problems.push(`${where}: a termination names an invalid streamId`);
    if (typeof slot.a !== 'number' || REASONS[String(slot.r)] === undefined)
      problems.push(`${where}: a termination lacks numeric a and a known reason`);
    if (slot.b !== undefined && (typeof slot.b !== 'string' || !validStreamId(slot.b)))
      problems.push(`${where}: a termination's replacedBy is invalid`);
    // replaced and evicted name the stream that took the slot (the 410's replacedBy); removed names none.
    if ((slot.r === 'p' || slot.r === 'e') !== (slot.b !== undefined))
      problems.push(
        `${where}: a termination of reason ${String(slot.r)} ${slot.b === undefined ? 'lacks' : 'has'} replacedBy`,
      );
  }
  return problems;
}

/** A display item: "<userId>#<streamId>", its token, and display data within the contract's bounds. */
function displayItemProblems(item: RawItem, key: string): string[] {
  const where = `display item ${JSON.stringify(key)}`;
  const [userId = '', streamId = '', ...rest] = key.split('#');
  const problems: string[] = [];
  if (rest.length > 0 || !validUserId(userId) || !validStreamId(streamId))
    problems.push(`${where}: key is not <userId>#<streamId>`);
  if (typeof item.x !== 'string') problems.push(`${where}: no token`);
  if (typeof item.gcAt !== 'number') problems.push(`${where}: no numeric gcAt`);
  if (item.d !== undefined && (typeof item.d !== 'string' || item.d.length > 128 || !USER_ID.test(item.d)))
    problems.push(`${where}: invalid deviceId`);
  for (const name of Object.keys(item)) {
    if (!['userId', 'x', 'd', 'm', 'gcAt'].includes(name)) problems.push(`${where}: unexpected attribute ${name}`);
  }
  return problems;
}
