import type { Knobs } from './knobs';
import type { Proxy } from './proxy';

/** What every part of the bench shares: its settings, its log, DynamoDB Local and the counting proxy in front of it. */
export interface BenchContext {
  readonly knobs: Knobs;
  readonly log: (message: string) => void;
  /** DynamoDB Local itself, not through the proxy. */
  readonly dynamoEndpoint: string;
  /** DynamoDB Local's JVM, for CPU accounting (undefined if it could not be found). */
  readonly javaPid: number | undefined;
  readonly proxy: Proxy;
}
