import type { Config } from '../config';
import type { LeasePolicy } from './model';

/** The lease rules' parameters from configuration. */
export function leasePolicy(
  config: Pick<Config, 'streamLimit' | 'streamPolicy' | 'leaseSeconds' | 'leaseMaxSeconds'>,
): LeasePolicy {
  return {
    defaultLimit: config.streamLimit,
    defaultPolicy: config.streamPolicy,
    // The contract's bound on live weight-0 streams per user.
    maxWeightlessStreams: 10,
    leaseMs: config.leaseSeconds * 1000,
    leaseMaxMs: config.leaseMaxSeconds * 1000,
    // The contract remembers at least the 8 most recent terminations; more would not fit the
    // 2 KB (2 write units) bound on the item a heartbeat rewrites.
    maxTerminations: 8,
  };
}
