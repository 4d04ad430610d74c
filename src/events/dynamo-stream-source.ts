import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListStreamsCommand,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-dynamodb-streams';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Logger } from 'pino';
import { terminationsOf, type ChangeRecord, type ChangeSource, type StreamTerminated } from './change-feed';

export interface DynamoStreamSourceOptions {
  /** DynamoDB Local (or any self-run endpoint) serves its streams on the table's own endpoint. */
  readonly endpoint: { kind: 'url'; url: string } | { kind: 'aws' };
  readonly region: string;
  readonly table: string;
  readonly logger: Logger;
  /**
   * Pause after a GetRecords that returned nothing. It bounds delivery latency (p99 ≈ this plus one
   * call); AWS allows about 5 GetRecords per second per shard, shared by at most two readers.
   */
  readonly pollIntervalMs?: number;
  /** How often the shard list is read again to notice new shards that no closed parent announced. */
  readonly discoverIntervalMs?: number;
  /** Bound on one API call. */
  readonly timeoutMs?: number;
}

const MAX_BACKOFF_MS = 10_000;

interface ShardReader {
  readonly shardId: string;
  /** Sequence number of the last record handed on, to resume after an expired iterator. */
  lastSequence?: string;
  done: boolean;
}

/**
 * Follows every shard of the table's DynamoDB stream: open shards from LATEST at start-up (history
 * is not news), shards that appear later from TRIM_HORIZON (their records are new), the children of
 * a closed shard as soon as it closes. A failing stream API is logged and retried with back-off; it
 * never reaches a request, since heartbeats stay the truth.
 */
export class DynamoStreamSource implements ChangeSource {
  private readonly client: DynamoDBStreamsClient;
  private readonly logger: Logger;
  private readonly pollIntervalMs: number;
  private readonly discoverIntervalMs: number;
  private readonly shards = new Map<string, ShardReader>();
  private readonly loops = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private deliver: (event: StreamTerminated) => void = () => undefined;
  private streamArn: string | undefined;
  private wakeDiscovery: (() => void) | undefined;

  constructor(private readonly options: DynamoStreamSourceOptions) {
    const timeoutMs = options.timeoutMs ?? 5000;
    this.client = new DynamoDBStreamsClient({
      region: options.region,
      maxAttempts: 1,
      ...(options.endpoint.kind === 'url' && {
        endpoint: options.endpoint.url,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      }),
      requestHandler: new NodeHttpHandler({ connectionTimeout: timeoutMs, requestTimeout: timeoutMs }),
    });
    this.logger = options.logger;
    this.pollIntervalMs = options.pollIntervalMs ?? 250;
    this.discoverIntervalMs = options.discoverIntervalMs ?? 10_000;
  }

  start(deliver: (event: StreamTerminated) => void): Promise<void> {
    this.deliver = deliver;
    return new Promise<void>((started) => this.track(this.discoverLoop(started)));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wakeDiscovery?.();
    while (this.loops.size > 0) await Promise.allSettled([...this.loops]);
    this.client.destroy();
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private track(loop: Promise<void>): void {
    this.loops.add(loop);
    void loop.finally(() => this.loops.delete(loop));
  }

  /** Finds the stream and its shards, then looks again periodically or when a shard closes. */
  private async discoverLoop(started: () => void): Promise<void> {
    let first = true;
    for (let backoffMs = 500; !this.stopped;) {
      try {
        await this.discover(first);
        if (first) {
          first = false;
          started();
        }
        backoffMs = 500;
        await this.sleep(this.discoverIntervalMs, (wake) => (this.wakeDiscovery = wake));
      } catch (error) {
        this.streamArn = undefined;
        this.logger.warn(
          { err: error, table: this.options.table },
          `change feed: stream not readable; retrying in ${backoffMs} ms`,
        );
        await this.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
      }
    }
    started();
  }

  private async discover(atStartUp: boolean): Promise<void> {
    if (this.streamArn === undefined) {
      const { Streams = [] } = await this.client.send(new ListStreamsCommand({ TableName: this.options.table }), {
        abortSignal: this.abort.signal,
      });
      // A recreated table has several streams; the newest label is the one being written.
      const newest = Streams.filter((s) => s.StreamArn).sort((a, b) =>
        String(b.StreamLabel).localeCompare(String(a.StreamLabel)),
      )[0];
      if (!newest?.StreamArn) throw new Error(`table ${this.options.table} has no stream (STREAM_EVENTS needs one)`);
      this.streamArn = newest.StreamArn;
      this.shards.clear();
    }
    const shards: Shard[] = [];
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription } = await this.client.send(
        new DescribeStreamCommand({ StreamArn: this.streamArn, ExclusiveStartShardId: exclusiveStartShardId }),
        { abortSignal: this.abort.signal },
      );
      shards.push(...(StreamDescription?.Shards ?? []));
      exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId);
    // Shards past the stream's 24-hour retention are no longer described: forget the finished ones.
    const described = new Set(shards.map((shard) => shard.ShardId));
    for (const [shardId, reader] of this.shards)
      if (reader.done && !described.has(shardId)) this.shards.delete(shardId);
    let added = 0;
    for (const shard of shards) {
      if (!shard.ShardId || this.shards.has(shard.ShardId)) continue;
      const closed = shard.SequenceNumberRange?.EndingSequenceNumber !== undefined;
      // At start-up closed shards hold only history (remembered as done, never read); open ones start
      // at LATEST. A shard seen for the first time later was created after we started: all of it is news.
      if (atStartUp && closed) {
        this.shards.set(shard.ShardId, { shardId: shard.ShardId, done: true });
        continue;
      }
      const reader: ShardReader = { shardId: shard.ShardId, done: false };
      this.shards.set(shard.ShardId, reader);
      added++;
      this.track(this.readShard(this.streamArn, reader, atStartUp ? 'LATEST' : 'TRIM_HORIZON'));
    }
    if (added > 0 || atStartUp) this.logger.info({ table: this.options.table, shards: added }, 'change feed reading');
  }

  private async iterator(streamArn: string, reader: ShardReader, type: ShardIteratorType): Promise<string | undefined> {
    const resume = reader.lastSequence !== undefined;
    const { ShardIterator } = await this.client.send(
      new GetShardIteratorCommand({
        StreamArn: streamArn,
        ShardId: reader.shardId,
        ShardIteratorType: resume ? 'AFTER_SEQUENCE_NUMBER' : type,
        ...(resume && { SequenceNumber: reader.lastSequence }),
      }),
      { abortSignal: this.abort.signal },
    );
    return ShardIterator;
  }

  private async readShard(streamArn: string, reader: ShardReader, start: ShardIteratorType): Promise<void> {
    let iterator: string | undefined;
    for (let backoffMs = this.pollIntervalMs; !this.stopped && streamArn === this.streamArn;) {
      try {
        iterator ??= await this.iterator(streamArn, reader, start);
        if (iterator === undefined) break;
        const { Records = [], NextShardIterator } = await this.client.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }),
          {
            abortSignal: this.abort.signal,
          },
        );
        iterator = NextShardIterator;
        for (const record of Records) {
          this.handOn(record as ChangeRecord);
          reader.lastSequence = record.dynamodb?.SequenceNumber ?? reader.lastSequence;
        }
        // No next iterator: the shard is closed (split or rolled over) and fully read.
        if (iterator === undefined) break;
        backoffMs = this.pollIntervalMs;
        if (Records.length === 0) await this.sleep(this.pollIntervalMs);
      } catch (error) {
        if (this.stopped) break;
        const name = (error as Error).name;
        if (name === 'ResourceNotFoundException') {
          // The stream went away (table deleted or stream turned off): find the current one.
          if (this.streamArn === streamArn) this.streamArn = undefined;
          this.wakeDiscovery?.();
          break;
        }
        // An expired iterator resumes after the last record handed on; trimmed data from the oldest kept.
        if (name === 'TrimmedDataAccessException') {
          reader.lastSequence = undefined;
          start = 'TRIM_HORIZON';
        }
        iterator = undefined;
        if (name !== 'ExpiredIteratorException') {
          this.logger.warn(
            { err: error, shardId: reader.shardId },
            `change feed: GetRecords failed; retrying in ${backoffMs} ms`,
          );
          await this.sleep(backoffMs);
          backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
        }
      }
    }
    reader.done = true;
    // Its children (DescribeStream names them with this shard as parent) must be read from their start.
    if (!this.stopped) this.wakeDiscovery?.();
  }

  private handOn(record: ChangeRecord): void {
    let events: StreamTerminated[];
    try {
      events = terminationsOf(record);
    } catch (error) {
      this.logger.warn({ err: error }, 'change feed: a record could not be decoded; skipped');
      return;
    }
    for (const event of events) {
      try {
        this.deliver(event);
      } catch (error) {
        this.logger.error({ err: error }, 'change feed: delivering an event failed');
      }
    }
  }

  /** Sleeps unless stopped; `expose` receives a function that ends the sleep early. */
  private sleep(ms: number, expose?: (wake: () => void) => void): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.abort.signal.addEventListener('abort', done, { once: true });
      expose?.(done);
    });
  }
}
