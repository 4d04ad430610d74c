/** A stream's lease as stored: times are epoch milliseconds. */
export interface Lease {
  readonly streamId: string;
  readonly startedAt: number;
  readonly expiresAt: number;
  /** Slots the stream takes (0-10): the limit bounds the sum over live streams. */
  readonly weight: number;
  /**
   * The term the last add or heartbeat granted (adaptive leases): leaseMaxMs while the user had
   * headroom, else leaseMs. Absent on leases stored while adaptive leases were off.
   */
  readonly termMs?: number;
  readonly deviceId?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * Set when the lease's display data (deviceId, metadata) is too big to ride in the user's item
   * that every heartbeat rewrites: it then lives in a display item stamped with this token, and
   * deviceId/metadata are only present once the store has read that item back (list, 409).
   */
  readonly displayRef?: string;
}

export type TerminationReason = 'removed' | 'replaced' | 'evicted';

/** What an add does for a user who has no room: refuse it (409), or end the oldest streams to make room. */
export const ADMISSION_POLICIES = ['block-new', 'evict-oldest'] as const;
export type AdmissionPolicy = (typeof ADMISSION_POLICIES)[number];

/** Why a stream stopped before its lease ran out, kept for LEASE_SECONDS so its heartbeat can answer 410. */
export interface Termination {
  readonly streamId: string;
  readonly reason: TerminationReason;
  readonly at: number;
  readonly replacedBy?: { readonly streamId: string; readonly deviceId?: string };
}

/** Everything stored for one user: one DynamoDB item. */
export interface UserState {
  readonly userId: string;
  /** false when the user has no item yet. */
  readonly exists: boolean;
  /** Bumped by every write; the guard of every read-modify-write. */
  readonly version: number;
  readonly leases: ReadonlyMap<string, Lease>;
  readonly terminations: ReadonlyMap<string, Termination>;
  readonly limitOverride?: number;
  readonly policyOverride?: AdmissionPolicy;
}

/**
 * Where a user stands at a moment: their live streams and the terms in force. Every answer about a
 * user reports this, so the store computes it once from the item an operation already has.
 */
export interface Standing {
  readonly userId: string;
  /** Live leases, oldest first (the contract orders lists by startedAt). */
  readonly live: readonly Lease[];
  readonly activeStreams: number;
  /** The sum of the live leases' weights. */
  readonly slotsInUse: number;
  readonly limit: number;
  readonly policy: AdmissionPolicy;
}

/** The rules' parameters, from configuration. */
export interface LeasePolicy {
  readonly defaultLimit: number;
  readonly defaultPolicy: AdmissionPolicy;
  /** Live weight-0 streams a user may hold (they take no slot, so something else must bound them). */
  readonly maxWeightlessStreams: number;
  readonly leaseMs: number;
  /** The longest lease for a user with headroom (LEASE_MAX_SECONDS); equal to leaseMs turns adaptive leases off. */
  readonly leaseMaxMs: number;
  /**
   * Terminations kept per user: the newest ones survive. Bounds the item every heartbeat
   * rewrites, and so the write units each heartbeat costs (see store/item-size.ts).
   */
  readonly maxTerminations: number;
}

export interface AddCommand {
  readonly userId: string;
  readonly streamId: string;
  readonly deviceId?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly replaceStreamId?: string;
  /** Slots the stream takes; 1 when absent. */
  readonly weight?: number;
  /** Chosen by the store when the display data goes to a display item (see Lease.displayRef). */
  readonly displayRef?: string;
}

export interface StreamRef {
  readonly userId: string;
  readonly streamId: string;
}

export interface RemoveCommand {
  readonly userId: string;
  readonly streamId?: string;
}

export function emptyState(userId: string): UserState {
  return { userId, exists: false, version: 0, leases: new Map(), terminations: new Map() };
}
