import type { AdmissionPolicy, AddCommand, LeasePolicy, Termination, UserState } from '../leases/model';
import { adaptive, newLease, removedTermination, replacedTermination, slotsOf } from '../leases/lease-rules';
import { toAttributeValue, type AttributeMap, type AttributeValue } from './attribute-value';
import { emptyRing, leaseAttribute, leaseToItem, terminationToItem } from './item-codec';
import { GC_GRACE_SECONDS, PARTITION_KEY, PINNED, TERMINATIONS, TTL_ATTRIBUTE } from './table';

/*
 * Every write the store sends, as pure functions of (context, command, now) that build an UpdateItem
 * request: the one-write fast paths, whose conditions hold exactly when the rules would decide the
 * same on whatever the item is, and the versioned slow-path write of the rules' whole new state.
 * test/unit/store/writes.test.ts and the property test hold them to the rules on DynamoDB Local.
 */

/** What every write needs: the table and the rules' parameters. */
export interface WriteContext {
  readonly table: string;
  readonly policy: LeasePolicy;
}

/** An UpdateItem request body in DynamoDB's JSON protocol. */
export interface UpdateRequest {
  readonly TableName: string;
  readonly Key: AttributeMap;
  readonly UpdateExpression: string;
  readonly ConditionExpression?: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  readonly ExpressionAttributeValues: Record<string, AttributeValue>;
  readonly ReturnValues: 'ALL_NEW';
  readonly ReturnValuesOnConditionCheckFailure: 'ALL_OLD';
  readonly ReturnConsumedCapacity: 'TOTAL';
}
/** Builds ExpressionAttributeNames/Values with short placeholders, so ids never appear in expressions. */
class ExpressionBuilder {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, AttributeValue> = {};
  private nameCount = 0;
  private valueCount = 0;
  private readonly nameIndex = new Map<string, string>();

  name(attribute: string): string {
    let placeholder = this.nameIndex.get(attribute);
    if (!placeholder) {
      placeholder = `#n${this.nameCount++}`;
      this.nameIndex.set(attribute, placeholder);
      this.names[placeholder] = attribute;
    }
    return placeholder;
  }

  value(value: unknown): string {
    const placeholder = `:v${this.valueCount++}`;
    this.values[placeholder] = toAttributeValue(value);
    return placeholder;
  }
}

// --- fast paths: one conditional write each ---------------------------------

/**
 * A plain add in one write. The condition admits only what the rules would:
 * the stream is not already stored (a retry or an expired lease takes the
 * slow path), and the stored slots (sl, the weights of every stored lease,
 * expired-but-unpruned ones too, so sl >= the live slots) leave room for this
 * weight; a weight-0 add instead needs fewer than maxWeightlessStreams stored
 * weight-0 leases (z). No pruning happens here. Returns undefined when no
 * condition can prove room (a weight above 1 under a per-user limit: DynamoDB
 * conditions cannot add), so the rules decide on a read.
 */
export function fastAdmit(ctx: WriteContext, command: AddCommand, now: number): UpdateRequest | undefined {
  const expression = new ExpressionBuilder();
  const weight = command.weight ?? 1;
  const slots = expression.name('sl');
  const weightless = expression.name('z');
  const zero = expression.value(0);
  const one = expression.value(1);
  const defaultLimit = ctx.policy.defaultLimit;
  const long = adaptive(ctx.policy);
  // Why the layout guard: an item with cnt but no sl was written before weights; its counters say
  // nothing about slots, so the rules decide on it (and the versioned write gives it sl and z).
  const current = `(attribute_exists(${slots}) OR attribute_not_exists(${expression.name('cnt')}))`;
  // In the current layout, no sl means no lease was ever stored; without lim, the default limit applies.
  const newUser = () => `(attribute_not_exists(${slots}) AND attribute_not_exists(${expression.name('lim')}))`;
  let room: string[];
  if (long) {
    // Adaptive leases: the fast path grants only the long term, so it must prove a free slot left
    // after this add (sl <= limit - w - 1, default limit only); an add that fills the user, or one
    // under a per-user limit, is decided by the rules on the returned item (a second call).
    const free = defaultLimit - weight - 1;
    if (free < 0) return undefined;
    const limit = expression.name('lim');
    room = [newUser(), `(attribute_not_exists(${limit}) AND ${slots} <= ${expression.value(free)})`];
    if (weight === 0) {
      const fewer = `(attribute_not_exists(${weightless}) OR ${weightless} < ${expression.value(ctx.policy.maxWeightlessStreams)})`;
      room = [`(${room.join(' OR ')}) AND ${fewer}`];
    }
  } else if (weight === 0) {
    room = [
      `attribute_not_exists(${weightless})`,
      `${weightless} < ${expression.value(ctx.policy.maxWeightlessStreams)}`,
    ];
  } else {
    const limit = expression.name('lim');
    room = [
      // A missing counter means a new user, whose limit is the default.
      ...(defaultLimit >= weight
        ? [newUser(), `(attribute_not_exists(${limit}) AND ${slots} <= ${expression.value(defaultLimit - weight)})`]
        : []),
      ...(weight === 1 ? [`${slots} < ${limit}`] : []),
    ];
  }
  if (room.length === 0) return undefined;
  const lease = expression.name(leaseAttribute(command.streamId));
  const count = expression.name('cnt');
  // A termination of an earlier stream of this id may stay in the ring: it is older than this
  // lease, so it is forgotten (LEASE_SECONDS after it) before this lease can lapse into a 404.
  return updateInput(ctx, command.userId, expression, {
    condition: `attribute_not_exists(${lease}) AND ${current} AND (${room.join(' OR ')})`,
    set: [
      `${lease} = ${expression.value(leaseToItem(newLease(command, now, ctx.policy, long ? ctx.policy.leaseMaxMs : ctx.policy.leaseMs)))}`,
      `${count} = if_not_exists(${count}, ${zero}) + ${one}`,
      `${slots} = if_not_exists(${slots}, ${zero}) + ${expression.value(weight)}`,
      `${weightless} = if_not_exists(${weightless}, ${zero}) + ${weight === 0 ? one : zero}`,
      ringIfMissing(ctx, expression),
      `${expression.name('ver')} = if_not_exists(${expression.name('ver')}, ${zero}) + ${one}`,
      collectAfter(ctx, expression, now),
    ],
  });
}

/**
 * "Stop that one and watch here" in one write: the replaced lease must be
 * live and the new stream must not be stored; the replaced one's termination
 * goes into the ring. The count does not change, so no limit check applies.
 */
export function fastReplace(ctx: WriteContext, command: AddCommand, now: number): UpdateRequest | undefined {
  // Why only weight 1 for weight 1: the slots then stay as they are; other weights need the sums.
  // With adaptive leases the new lease's term depends on the headroom: the rules decide on a read.
  if ((command.weight ?? 1) !== 1 || adaptive(ctx.policy)) return undefined;
  const expression = new ExpressionBuilder();
  const replaced = expression.name(leaseAttribute(command.replaceStreamId!));
  const lease = expression.name(leaseAttribute(command.streamId));
  const ring = pushTermination(ctx, expression, replacedTermination(command.replaceStreamId!, command, now));
  return updateInput(ctx, command.userId, expression, {
    condition: [
      `${replaced}.${expression.name('e')} > ${expression.value(now)}`,
      `${replaced}.${expression.name('w')} = ${expression.value(1)}`,
      `attribute_not_exists(${lease})`,
      ring.condition,
    ].join(' AND '),
    set: [
      `${lease} = ${expression.value(leaseToItem(newLease(command, now, ctx.policy)))}`,
      ring.set,
      bumpVersion(ctx, expression),
      collectAfter(ctx, expression, now),
    ],
    remove: [replaced, ring.remove],
  });
}

/**
 * Extends a live lease in one write; used by heartbeats and by retried adds. `mustNotBeLive`
 * names a stream that has to stay not live for the renewal alone to be the right decision.
 */
export function renewWrite(
  ctx: WriteContext,
  userId: string,
  streamId: string,
  now: number,
  mustNotBeLive?: string,
): UpdateRequest {
  const expression = new ExpressionBuilder();
  const lease = expression.name(leaseAttribute(streamId));
  const expires = expression.name('e');
  const nowValue = expression.value(now);
  const other = mustNotBeLive === undefined ? undefined : expression.name(leaseAttribute(mustNotBeLive));
  const term = adaptive(ctx.policy) ? termStillRight(ctx, expression, lease) : undefined;
  return updateInput(ctx, userId, expression, {
    // Why: only a lease that has not run out may be extended (an expired one must be added again).
    condition:
      `${lease}.${expires} > ${nowValue}` +
      (other === undefined ? '' : ` AND (attribute_not_exists(${other}) OR ${other}.${expires} <= ${nowValue})`) +
      (term === undefined ? '' : ` AND ${term.condition}`),
    set: [
      term === undefined
        ? `${lease}.${expires} = ${expression.value(now + ctx.policy.leaseMs)}`
        : `${lease}.${expires} = ${nowValue} + ${term.path}`,
      bumpVersion(ctx, expression),
      collectAfter(ctx, expression, now),
    ],
  });
}

/** Ends a live lease in one write, remembering it as removed for its heartbeat's 410. */
export function fastRelease(ctx: WriteContext, userId: string, streamId: string, now: number): UpdateRequest {
  const expression = new ExpressionBuilder();
  const lease = expression.name(leaseAttribute(streamId));
  const weight = `${lease}.${expression.name('w')}`;
  const count = expression.name('cnt');
  const slots = expression.name('sl');
  const ring = pushTermination(ctx, expression, removedTermination(streamId, now));
  return updateInput(ctx, userId, expression, {
    // Why w > 0: a weight-0 lease is also counted in z, which this write cannot know to decrement.
    condition: `${lease}.${expression.name('e')} > ${expression.value(now)} AND ${weight} > ${expression.value(0)} AND ${ring.condition}`,
    set: [
      ring.set,
      `${count} = ${count} - ${expression.value(1)}`,
      `${slots} = ${slots} - ${weight}`,
      bumpVersion(ctx, expression),
      collectAfter(ctx, expression, now),
    ],
    remove: [lease, ring.remove],
  });
}

// --- slow path: the rules' whole new state, guarded by the version ----------

/**
 * Writes the difference between `previous` (as read) and `next` (decided by
 * the rules), on condition that nobody wrote the item in between. Counters
 * are set to the exact sizes, so they cannot drift from the stored leases.
 */
export function versionedWrite(ctx: WriteContext, previous: UserState, next: UserState, now: number): UpdateRequest {
  const expression = new ExpressionBuilder();
  const set: string[] = [];
  const remove: string[] = [];
  for (const [streamId, lease] of next.leases) {
    if (previous.leases.get(streamId) !== lease) {
      set.push(`${expression.name(leaseAttribute(streamId))} = ${expression.value(leaseToItem(lease))}`);
    }
  }
  for (const streamId of previous.leases.keys()) {
    if (!next.leases.has(streamId)) remove.push(expression.name(leaseAttribute(streamId)));
  }
  // The whole ring, oldest first (the rules keep at most as many terminations as it has slots).
  const kept = [...next.terminations.values()].slice(-ctx.policy.maxTerminations).map(terminationToItem);
  const ring = [...emptyRing(ctx.policy.maxTerminations - kept.length), ...kept];
  const version = expression.name('ver');
  set.push(
    `${expression.name(TERMINATIONS)} = ${expression.value(ring)}`,
    `${expression.name('cnt')} = ${expression.value(next.leases.size)}`,
    `${expression.name('sl')} = ${expression.value(slotsOf(next.leases.values()))}`,
    `${expression.name('z')} = ${expression.value([...next.leases.values()].filter((lease) => lease.weight === 0).length)}`,
    `${version} = ${expression.value(previous.version + 1)}`,
    collectAfter(ctx, expression, now),
  );
  return updateInput(ctx, previous.userId, expression, {
    // Why: the rules decided on exactly this version; any other write in between makes us decide again.
    condition: previous.exists
      ? `${version} = ${expression.value(previous.version)}`
      : `attribute_not_exists(${expression.name(PARTITION_KEY)})`,
    set,
    remove,
  });
}

// --- pieces ---------------------------------------------------------------

/**
 * Appends a termination to the ring and drops its first (oldest) slot in the same write, so the
 * ring always holds the newest maxTerminations and a remove never needs a read to make room.
 * Why the size condition: an item from before the ring (or a damaged one) takes the slow path,
 * which rewrites the whole ring.
 */
function pushTermination(
  ctx: WriteContext,
  expression: ExpressionBuilder,
  termination: Termination,
): { condition: string; set: string; remove: string } {
  const ring = expression.name(TERMINATIONS);
  const slots = ctx.policy.maxTerminations;
  return {
    condition: `size(${ring}) = ${expression.value(slots)}`,
    set: `${ring}[${slots}] = ${expression.value(terminationToItem(termination))}`,
    remove: `${ring}[0]`,
  };
}

/**
 * Adaptive leases: a renewal keeps the lease's term (t) only while that term is still the right
 * one, so the write needs no read: the long term while the stored slots leave a free slot (sl
 * counts unpruned expired leases too, so sl <= limit - 1 proves it), the base term otherwise. When
 * the headroom has changed, the condition fails and the rules write the new term.
 */
function termStillRight(
  ctx: WriteContext,
  expression: ExpressionBuilder,
  lease: string,
): { condition: string; path: string } {
  const term = `${lease}.${expression.name('t')}`;
  const slots = expression.name('sl');
  const limit = expression.name('lim');
  const headroom = `((attribute_not_exists(${limit}) AND ${slots} <= ${expression.value(ctx.policy.defaultLimit - 1)}) OR ${slots} < ${limit})`;
  return {
    condition: `((${term} = ${expression.value(ctx.policy.leaseMaxMs)} AND ${headroom}) OR (${term} = ${expression.value(ctx.policy.leaseMs)} AND NOT ${headroom}))`,
    path: term,
  };
}

/** Gives a new item its empty termination ring. */
function ringIfMissing(ctx: WriteContext, expression: ExpressionBuilder): string {
  const ring = expression.name(TERMINATIONS);
  return `${ring} = if_not_exists(${ring}, ${expression.value(emptyRing(ctx.policy.maxTerminations))})`;
}

function bumpVersion(ctx: WriteContext, expression: ExpressionBuilder): string {
  return `${expression.name('ver')} = ${expression.name('ver')} + ${expression.value(1)}`;
}

/** Moves the TTL past every lease and termination, unless a limit override pins the item. */
function collectAfter(ctx: WriteContext, expression: ExpressionBuilder, now: number): string {
  return `${expression.name(TTL_ATTRIBUTE)} = if_not_exists(${expression.name('pin')}, ${expression.value(gcAt(ctx, now))})`;
}

export function gcAt(ctx: WriteContext, now: number): number {
  return Math.ceil((now + Math.max(ctx.policy.leaseMs, ctx.policy.leaseMaxMs)) / 1000) + GC_GRACE_SECONDS;
}

function updateInput(
  ctx: WriteContext,
  userId: string,
  expression: ExpressionBuilder,
  parts: { condition?: string; set: string[]; remove?: string[] },
): UpdateRequest {
  const clauses = [`SET ${parts.set.join(', ')}`];
  if (parts.remove?.length) clauses.push(`REMOVE ${parts.remove.join(', ')}`);
  return {
    TableName: ctx.table,
    Key: { [PARTITION_KEY]: { S: userId } },
    UpdateExpression: clauses.join(' '),
    ...(parts.condition && { ConditionExpression: parts.condition }),
    ExpressionAttributeNames: expression.names,
    ExpressionAttributeValues: expression.values,
    ReturnValues: 'ALL_NEW',
    // Why: a failed condition hands back the current item, so deciding a 409 or a retry needs no second read.
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
    // Why: the write units each call costs, measured by DynamoDB, are a metric (the bill) and pin the bound.
    ReturnConsumedCapacity: 'TOTAL',
  };
}

/**
 * Sets a per-user limit and/or admission policy override. It lives on the user's item, so
 * admission still needs one conditional write; pinning gcAt to a string keeps TTL (which only
 * deletes numeric timestamps) from ever expiring the override.
 */
export function overridesWrite(
  ctx: WriteContext,
  userId: string,
  overrides: { limit?: number; policy?: AdmissionPolicy },
): UpdateRequest {
  const expression = new ExpressionBuilder();
  const zero = expression.value(0);
  const pinned = expression.value(PINNED);
  return updateInput(ctx, userId, expression, {
    set: [
      ...(overrides.limit !== undefined ? [`${expression.name('lim')} = ${expression.value(overrides.limit)}`] : []),
      ...(overrides.policy !== undefined ? [`${expression.name('pol')} = ${expression.value(overrides.policy)}`] : []),
      `${expression.name('pin')} = ${pinned}`,
      `${expression.name(TTL_ATTRIBUTE)} = ${pinned}`,
      ringIfMissing(ctx, expression),
      `${expression.name('ver')} = if_not_exists(${expression.name('ver')}, ${zero}) + ${expression.value(1)}`,
    ],
  });
}

/** Removes the overrides: the user is back on STREAM_LIMIT and STREAM_POLICY, and the item may be garbage-collected again. */
export function clearOverridesWrite(ctx: WriteContext, userId: string, now: number): UpdateRequest {
  const expression = new ExpressionBuilder();
  return updateInput(ctx, userId, expression, {
    condition: `attribute_exists(${expression.name(PARTITION_KEY)})`,
    set: [
      `${expression.name(TTL_ATTRIBUTE)} = ${expression.value(gcAt(ctx, now))}`,
      `${expression.name('ver')} = ${expression.name('ver')} + ${expression.value(1)}`,
    ],
    remove: [expression.name('lim'), expression.name('pol'), expression.name('pin')],
  });
}
