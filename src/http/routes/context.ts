import type { Request, RequestHandler, Response } from 'express';
import type { Config } from '../../config';
import type { LeasePolicy } from '../../leases/model';
import type { LeaseStore } from '../../store/lease-store';

/** The store operations the API uses (the LeaseStore, or a stand-in in tests). */
export type LeaseStorePort = Pick<
  LeaseStore,
  | 'admitStream'
  | 'renewLease'
  | 'releaseStream'
  | 'checkAdmission'
  | 'readUser'
  | 'readStanding'
  | 'setOverrides'
  | 'clearLimit'
  | 'ping'
  | 'policy'
>;

/** Domain events the metrics count. */
export interface LeaseEvents {
  admitted(): void;
  rejected(): void;
  terminated(): void;
  /** Streams an evict-oldest add ended to make room. */
  evicted(count: number): void;
  /** Adds and heartbeats answered with an unstored lease during a store outage (STORE_FAILURE_MODE=open). */
  degraded(): void;
}

/** What every API route needs, built once by createApp. */
export interface ApiContext {
  readonly config: Config;
  /** The store's own: the limits and lease terms the routes describe are the ones it enforces. */
  readonly policy: LeasePolicy;
  readonly store: LeaseStorePort;
  readonly clock: () => number;
  /** Rate limit and authentication, in the contract's order, before the body is read. */
  readonly guards: RequestHandler[];
  /** Throws 403 unless the authenticated caller may act on this user. */
  authorize(req: Request, res: Response, userId: string): void;
  /** Throws 403 unless the caller is an admin (no-op when auth is off). */
  authorizeAdmin(req: Request, res: Response): void;
  readonly events: LeaseEvents;
}
