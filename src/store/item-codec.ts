import { randomBytes } from 'node:crypto';
import {
  ADMISSION_POLICIES,
  emptyState,
  type AddCommand,
  type AdmissionPolicy,
  type Lease,
  type Termination,
  type UserState,
} from '../leases/model';
import { INLINE_DISPLAY_BYTES, LEASE_PREFIX, TERMINATIONS, displayBytes } from './table';

/* The item layout (src/store/table.ts) in code: leases, the termination ring and display data, both ways. */

export type Item = Record<string, unknown>;

export const leaseAttribute = (streamId: string) => LEASE_PREFIX + streamId;
/** An empty ring: TERMINATION_SLOTS placeholders, so that every termination is "append one, drop the first". */
export const emptyRing = (slots: number): Item[] => Array.from({ length: slots }, () => ({}));

/** deviceId and metadata as stored: inline in the lease, or as the attributes of its display item. */
export function displayToItem(lease: Pick<Lease, 'deviceId' | 'metadata'>): Item {
  return {
    ...(lease.deviceId !== undefined && { d: lease.deviceId }),
    // A Map, not the caller's object: the marshaller refuses plain objects whose own key
    // "constructor" is a string, and that key is valid metadata.
    ...(lease.metadata !== undefined && { m: new Map(Object.entries(lease.metadata)) }),
  };
}

export function leaseToItem(lease: Lease): Item {
  // Why: a lease whose display data lives in a display item carries only the token that finds it,
  // so the item every heartbeat rewrites stays within the contract's write-cost bound.
  const display = lease.displayRef === undefined ? displayToItem(lease) : { x: lease.displayRef };
  // w always stored: a remove subtracts it from sl in the same write without knowing it. d (the term
  // granted, adaptive leases only): a heartbeat renews by it, e = now + t, in the same write.
  return {
    s: lease.startedAt,
    e: lease.expiresAt,
    w: lease.weight,
    ...(lease.termMs !== undefined && { t: lease.termMs }),
    ...display,
  };
}

const REASON_CODES = { removed: 'r', replaced: 'p', evicted: 'e' } as const satisfies Record<
  Termination['reason'],
  string
>;
const REASONS = Object.fromEntries(Object.entries(REASON_CODES).map(([reason, code]) => [code, reason])) as Record<
  string,
  Termination['reason']
>;

/**
 * One slot of the termination ring. The replacing stream is named by its id only: its deviceId is
 * looked up when a 410 needs it (eight of them at 128 bytes would not fit the 2 KB bound).
 */
export function terminationToItem(termination: Termination): Item {
  return {
    i: termination.streamId,
    a: termination.at,
    r: REASON_CODES[termination.reason],
    ...(termination.replacedBy && { b: termination.replacedBy.streamId }),
  };
}

/** The ring as the rules' terminations, oldest first, newest per stream; placeholders are skipped. */
function ringToTerminations(ring: unknown): Map<string, Termination> {
  const terminations = new Map<string, Termination>();
  for (const slot of Array.isArray(ring) ? (ring as Record<string, unknown>[]) : []) {
    if (typeof slot?.i !== 'string') continue;
    terminations.delete(slot.i);
    terminations.set(slot.i, {
      streamId: slot.i,
      reason: REASONS[String(slot.r)] ?? 'removed',
      at: Number(slot.a),
      ...(typeof slot.b === 'string' && { replacedBy: { streamId: slot.b } }),
    });
  }
  return terminations;
}

/** Reads a stored item into the rules' UserState; unknown attributes are ignored. */
export function itemToState(userId: string, item: Item | undefined): UserState {
  if (!item) return emptyState(userId);
  const leases = new Map<string, Lease>();
  for (const [attribute, raw] of Object.entries(item)) {
    const value = raw as Record<string, unknown>;
    if (attribute.startsWith(LEASE_PREFIX)) {
      const streamId = attribute.slice(LEASE_PREFIX.length);
      leases.set(streamId, {
        streamId,
        startedAt: Number(value.s),
        expiresAt: Number(value.e),
        weight: typeof value.w === 'number' ? value.w : 1,
        ...(typeof value.t === 'number' && { termMs: value.t }),
        ...(typeof value.d === 'string' && { deviceId: value.d }),
        ...(value.m !== undefined && { metadata: value.m as Record<string, string> }),
        ...(typeof value.x === 'string' && { displayRef: value.x }),
      });
    }
  }
  return {
    userId,
    exists: true,
    version: Number(item.ver ?? 0),
    leases,
    terminations: ringToTerminations(item[TERMINATIONS]),
    ...(typeof item.lim === 'number' && { limitOverride: item.lim }),
    ...(isAdmissionPolicy(item.pol) && { policyOverride: item.pol }),
  };
}

function isAdmissionPolicy(value: unknown): value is AdmissionPolicy {
  return (ADMISSION_POLICIES as readonly unknown[]).includes(value);
}

/** The add with its display data marked for a display item when it is too big to ride in the user's item. */
export function placeDisplay(command: AddCommand): AddCommand {
  if (displayBytes(command) <= INLINE_DISPLAY_BYTES) return command;
  return { ...command, displayRef: randomBytes(6).toString('base64url') };
}
