/**
 * The lease table's layout, shared by the store, the table bootstrap and the
 * infrastructure code's documentation. One item per user:
 *
 *   userId      S  partition key
 *   ver         N  bumped by every write; guards read-modify-write
 *   cnt         N  number of L: attributes (live or not yet pruned)
 *   sl          N  stored slots: the sum of the L: leases' weights (live or not yet pruned)
 *   z           N  number of stored weight-0 leases
 *   pol         S  per-user admission policy override (absent: STREAM_POLICY)
 *   gcAt        N  epoch seconds after which TTL may delete the item (garbage collection only);
 *                  S "pinned" while a limit override exists, which TTL ignores
 *   lim         N  per-user limit override (absent: STREAM_LIMIT)
 *   pin         S  present with lim; copied into gcAt by every write
 *   L:<stream>  M  a lease: s startedAt ms, e expiresAt ms, w weight, t the term granted (adaptive
 *                  leases only), and either d deviceId, m metadata (small display data, inline)
 *                  or x the token of its display item
 *   T           L  the termination ring: maxTerminations slots, oldest first, each {} (empty) or
 *                  { i streamId, a at ms, r reason (r removed, p replaced, e evicted), b replacedBy streamId };
 *                  every termination appends one slot and drops the first, in the same write
 *
 * Display items, one per stream whose display data is over INLINE_DISPLAY_BYTES, so that the
 * user item, which every heartbeat rewrites, stays under 2 KB (2 write units) for any valid input:
 *
 *   userId      S  "<userId>#<streamId>" ('#' is outside the userId charset: no user has this key)
 *   x           S  the token the lease carries; a display item with another token is stale
 *   d, m           deviceId and metadata
 *   gcAt        N  DISPLAY_RETENTION_SECONDS after the add (garbage collection only)
 */
export const PARTITION_KEY = 'userId';
export const TTL_ATTRIBUTE = 'gcAt';
export const LEASE_PREFIX = 'L:';
export const TERMINATIONS = 'T';
export const PINNED = 'pinned';
/** Slack added to gcAt beyond the last lease's expiry, so skewed clocks can never let TTL delete a live lease. */
export const GC_GRACE_SECONDS = 3600;

/** Display data (deviceId plus metadata keys and values, UTF-8 bytes) above this leaves the user item. */
export const INLINE_DISPLAY_BYTES = 64;
/** How long a display item outlives its add; a stream played longer than this lists without it. */
export const DISPLAY_RETENTION_SECONDS = 30 * 24 * 3600;

export function displayKey(userId: string, streamId: string): string {
  return `${userId}#${streamId}`;
}

/** UTF-8 bytes of a stream's display data, as INLINE_DISPLAY_BYTES counts them. */
export function displayBytes(display: { deviceId?: string; metadata?: Readonly<Record<string, string>> }): number {
  let bytes = display.deviceId === undefined ? 0 : Buffer.byteLength(display.deviceId);
  for (const [key, value] of Object.entries(display.metadata ?? {}))
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  return bytes;
}
