import type { Config } from '../config';
import type { LeasePolicy } from './model';

/** The lease rules' parameters from configuration. */
export function leasePolicy(config: Pick<Config, 'streamLimit' | 'leaseSeconds'>): LeasePolicy {
  return {
    defaultLimit: config.streamLimit,
    leaseMs: config.leaseSeconds * 1000,
    maxTerminations: 32,
    terminationsAfterEviction: 24,
  };
}
