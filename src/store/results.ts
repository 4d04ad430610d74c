import type { CheckDecision } from '../leases/lease-rules';
import type { Lease, Standing, Termination } from '../leases/model';

/*
 * What the store's operations answer. Each carries the user's standing after the operation, computed
 * from the item the operation already holds (the write's ALL_NEW, the failed condition's ALL_OLD, or
 * the read): the routes render it without running the rules again, and it costs no DynamoDB call.
 */

export type AdmitResult =
  | {
      readonly outcome: 'admitted' | 'renewed';
      readonly lease: Lease;
      readonly standing: Standing;
      /** Streams this add ended to make room (evict-oldest), with their deviceIds. */
      readonly evicted: readonly Lease[];
    }
  /** The add changed nothing; the live streams come with their display data, as the 409 lists them. */
  | { readonly outcome: 'rejected'; readonly standing: Standing };

export type RenewResult =
  | { readonly outcome: 'renewed'; readonly lease: Lease; readonly standing: Standing }
  | { readonly outcome: 'not-found' }
  | { readonly outcome: 'terminated'; readonly termination: Termination };

export type ReleaseResult = {
  readonly outcome: 'removed' | 'absent';
  readonly streamId: string | null;
  readonly standing: Standing;
};

/** What an add would do now, and the standing it was decided on (live streams with their display data). */
export type CheckResult = { readonly standing: Standing } & CheckDecision;
