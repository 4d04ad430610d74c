import type { Termination } from '../leases/model';
import { fromAttributeMap, type AttributeMap } from '../store/attribute-value';
import { itemToState } from '../store/lease-store';
import { PARTITION_KEY } from '../store/table';

/** A stream that went from live to ended (removed, replaced or evicted) in one write of its user's item. */
export interface StreamTerminated {
  readonly userId: string;
  readonly streamId: string;
  readonly reason: Termination['reason'];
  readonly replacedBy?: { readonly streamId: string; readonly deviceId?: string };
  /** When the write happened (epoch ms, the service's clock as stored in the ring). */
  readonly at: number;
  /**
   * The replacing stream's deviceId lives in its display item (see table.ts), so the image does not
   * carry it; whoever delivers the event reads it back, as a heartbeat's 410 does.
   */
  readonly replacerDeviceOutOfLine: boolean;
}

/**
 * One change of the lease table, as DynamoDB Streams' GetRecords, a Lambda's DynamoDB event and
 * Kinesis Data Streams for DynamoDB all carry it (`dynamodb.OldImage` / `NewImage` in DynamoDB's
 * typed JSON): the decoding below is the same whichever of them delivered the record.
 */
export interface ChangeRecord {
  readonly eventName?: string;
  readonly dynamodb?: {
    readonly Keys?: Record<string, unknown>;
    readonly OldImage?: Record<string, unknown>;
    readonly NewImage?: Record<string, unknown>;
  };
}

/**
 * Where terminations come from: the table's DynamoDB stream read directly (DynamoStreamSource),
 * or a managed fan-out fed by one reader of it. The feed only sees this interface, so the path the
 * tests exercise (subscribe, deliver, close) is the one production runs.
 */
export interface ChangeSource {
  /** Starts delivering; resolves once the source reads (events from then on are delivered). Never rejects. */
  start(deliver: (event: StreamTerminated) => void): Promise<void>;
  /** Stops reading and releases its connections; resolves when no call is in flight. */
  stop(): Promise<void>;
}

/**
 * The SDK's deserializer returns an empty map value (`{"M":{}}`, each empty slot of the termination
 * ring) as `{}`, which is no AttributeValue; it is put back before decoding.
 */
function restoreEmptyMaps(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  if (entries.length === 0) return { M: {} };
  if ('L' in value && Array.isArray(value.L)) return { L: value.L.map(restoreEmptyMaps) };
  if ('M' in value)
    return { M: Object.fromEntries(Object.entries(value.M as object).map(([k, v]) => [k, restoreEmptyMaps(v)])) };
  return value;
}

const image = (raw: Record<string, unknown> | undefined) =>
  raw === undefined
    ? undefined
    : fromAttributeMap(
        Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, restoreEmptyMaps(v)])) as AttributeMap,
      );

/**
 * The terminations one change made: every stream whose lease left the item in the same write that
 * put a new termination for it in the ring. A lease that only expired, was pruned or was deleted by
 * TTL is not a termination (its heartbeat answers 404, not 410), and display items are not users.
 */
export function terminationsOf(record: ChangeRecord): StreamTerminated[] {
  const change = record.dynamodb;
  const keyValue = change?.Keys?.[PARTITION_KEY] as { S?: unknown } | undefined;
  const userId = typeof keyValue?.S === 'string' ? keyValue.S : undefined;
  // '#' is outside the userId charset: such keys are display items.
  if (!change || userId === undefined || userId.includes('#') || !change.NewImage || !change.OldImage) return [];
  const before = itemToState(userId, image(change.OldImage));
  const after = itemToState(userId, image(change.NewImage));
  const ended: StreamTerminated[] = [];
  for (const streamId of before.leases.keys()) {
    if (after.leases.has(streamId)) continue;
    const termination = after.terminations.get(streamId);
    // A termination already in the ring before this write belongs to an earlier stream of this id.
    if (!termination || before.terminations.get(streamId)?.at === termination.at) continue;
    const replacer = termination.replacedBy && after.leases.get(termination.replacedBy.streamId);
    ended.push({
      userId,
      streamId,
      reason: termination.reason,
      at: termination.at,
      ...(termination.replacedBy && {
        replacedBy: {
          streamId: termination.replacedBy.streamId,
          ...(replacer?.deviceId !== undefined && { deviceId: replacer.deviceId }),
        },
      }),
      replacerDeviceOutOfLine: replacer?.displayRef !== undefined,
    });
  }
  return ended;
}
