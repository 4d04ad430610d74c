import type { LiveStreamView } from '../response-schemas';
import type { Lease, Standing } from '../../leases/model';

/** A lease as players see it: ISO 8601 UTC times with milliseconds. */
export function leaseView(lease: Lease): LiveStreamView {
  return {
    streamId: lease.streamId,
    ...(lease.deviceId !== undefined && { deviceId: lease.deviceId }),
    ...(lease.metadata !== undefined && { metadata: lease.metadata }),
    weight: lease.weight,
    startedAt: new Date(lease.startedAt).toISOString(),
    expiresAt: new Date(lease.expiresAt).toISOString(),
  };
}

/** GET /users/{userId}/streams: live leases only, oldest first, with the limit in force. */
export function userStreamsView(standing: Standing) {
  return {
    userId: standing.userId,
    limit: standing.limit,
    activeStreams: standing.activeStreams,
    slotsInUse: standing.slotsInUse,
    policy: standing.policy,
    streams: standing.live.map(leaseView),
  };
}

/** A stream as named in `evicted` and `wouldEvict`. */
export function streamRef(lease: Lease): { streamId: string; deviceId?: string } {
  return { streamId: lease.streamId, ...(lease.deviceId !== undefined && { deviceId: lease.deviceId }) };
}
