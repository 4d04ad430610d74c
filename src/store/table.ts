/**
 * The lease table's layout, shared by the store, the table bootstrap and the
 * infrastructure code's documentation. One item per user:
 *
 *   userId      S  partition key
 *   ver         N  bumped by every write; guards read-modify-write
 *   cnt         N  number of L: attributes (live or not yet pruned)
 *   tcnt        N  number of T: attributes
 *   gcAt        N  epoch seconds after which TTL may delete the item (garbage collection only);
 *                  S "pinned" while a limit override exists, which TTL ignores
 *   lim         N  per-user limit override (absent: STREAM_LIMIT)
 *   pin         S  present with lim; copied into gcAt by every write
 *   L:<stream>  M  a lease: s startedAt ms, e expiresAt ms, d deviceId, m metadata
 *   T:<stream>  M  a termination: a at ms, r reason, b replacedBy streamId, bd its deviceId
 */
export const PARTITION_KEY = 'userId';
export const TTL_ATTRIBUTE = 'gcAt';
export const LEASE_PREFIX = 'L:';
export const TERMINATION_PREFIX = 'T:';
export const PINNED = 'pinned';
/** Slack added to gcAt beyond the last lease's expiry, so skewed clocks can never let TTL delete a live lease. */
export const GC_GRACE_SECONDS = 3600;
