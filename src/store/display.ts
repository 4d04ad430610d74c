import { fromAttributeMap, toAttributeMap, type AttributeMap } from './attribute-value';
import type { ItemCalls } from './item-calls';
import { displayToItem, type Item } from './item-codec';
import { DISPLAY_RETENTION_SECONDS, PARTITION_KEY, TTL_ATTRIBUTE, displayKey } from './table';
import { StoreUnavailable } from '../errors';
import { isLive } from '../leases/lease-rules';
import type { AddCommand, Lease, Termination, UserState } from '../leases/model';

/*
 * Display data (deviceId, metadata) over INLINE_DISPLAY_BYTES lives in a display item of its own, so
 * the user's item, which every heartbeat rewrites, stays within the write-cost bound.
 */

/**
 * Writes an admitted lease's display item, after the admission (a refused add must not pay for
 * it). Should this write fail, the add answers 503 and its retry, which renews, writes it again.
 */
export async function storeDisplay(
  calls: ItemCalls,
  command: AddCommand,
  lease: Lease,
  deadline: number,
): Promise<void> {
  if (lease.displayRef === undefined || (command.deviceId === undefined && command.metadata === undefined)) return;
  const item = {
    [PARTITION_KEY]: displayKey(command.userId, command.streamId),
    x: lease.displayRef,
    ...displayToItem(command),
    [TTL_ATTRIBUTE]: Math.ceil(Date.now() / 1000) + DISPLAY_RETENTION_SECONDS,
  };
  const request = {
    TableName: calls.table,
    Item: toAttributeMap(Object.entries(item)),
    // Why: a retried add (renewed) keeps the display data first admitted, as it keeps the lease;
    // it only writes the display item when the first attempt's write was lost.
    ConditionExpression: 'attribute_not_exists(#x) OR #x <> :x',
    ExpressionAttributeNames: { '#x': 'x' },
    ExpressionAttributeValues: { ':x': { S: lease.displayRef } },
    ReturnConsumedCapacity: 'TOTAL',
  };
  await calls.call('PutItem', request, deadline, true);
}

/** The leases with their out-of-line display data read back (one BatchGetItem; none when all is inline). */
export async function withDisplay(
  calls: ItemCalls,
  userId: string,
  leases: Lease[],
  deadline: number,
): Promise<Lease[]> {
  const wanted = leases.filter((lease) => lease.displayRef !== undefined);
  if (wanted.length === 0) return leases;
  const found = new Map<string, Item>();
  let keys: AttributeMap[] = wanted.map((lease) => ({ [PARTITION_KEY]: { S: displayKey(userId, lease.streamId) } }));
  // BatchGetItem may leave keys unprocessed under load; ask again for those until the deadline.
  while (keys.length > 0) {
    const request = { RequestItems: { [calls.table]: { Keys: keys, ConsistentRead: true } } };
    const { answer } = await calls.call('BatchGetItem', request, deadline, false);
    for (const raw of (answer.Responses as Record<string, AttributeMap[]> | undefined)?.[calls.table] ?? []) {
      const item = fromAttributeMap(raw);
      found.set(String(item[PARTITION_KEY]), item);
    }
    keys = (answer.UnprocessedKeys as Record<string, { Keys?: AttributeMap[] }> | undefined)?.[calls.table]?.Keys ?? [];
    if (keys.length > 0 && Date.now() >= deadline) {
      throw new StoreUnavailable('throttled', { cause: new Error('BatchGetItem left keys unprocessed') });
    }
  }
  return leases.map((lease) => {
    const item = lease.displayRef === undefined ? undefined : found.get(displayKey(userId, lease.streamId));
    // A display item with another token belongs to an earlier stream of the same id.
    if (!item || item.x !== lease.displayRef) return lease;
    return {
      ...lease,
      ...(typeof item.d === 'string' && { deviceId: item.d }),
      ...(item.m !== undefined && { metadata: item.m as Record<string, string> }),
    };
  });
}

/** The state with its live leases' display data read back, for the views that list them. */
export async function withLiveDisplay(
  calls: ItemCalls,
  state: UserState,
  now: number,
  deadline: number,
): Promise<UserState> {
  const live = [...state.leases.values()].filter((lease) => isLive(lease, now));
  const shown = await withDisplay(calls, state.userId, live, deadline);
  if (shown === live) return state;
  const leases = new Map(state.leases);
  for (const lease of shown) leases.set(lease.streamId, lease);
  return { ...state, leases };
}

/** A termination whose replacing stream's deviceId is filled in from that stream's lease, if it is still held. */
export async function withReplacerDevice(
  calls: ItemCalls,
  state: UserState,
  termination: Termination,
  deadline: number,
): Promise<Termination> {
  const by = termination.replacedBy;
  if (!by || by.deviceId !== undefined) return termination;
  const replacer = state.leases.get(by.streamId);
  if (!replacer) return termination;
  const [shown] = await withDisplay(calls, state.userId, [replacer], deadline);
  if (shown?.deviceId === undefined) return termination;
  return { ...termination, replacedBy: { streamId: by.streamId, deviceId: shown.deviceId } };
}
