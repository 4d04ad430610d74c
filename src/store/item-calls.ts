import { fromAttributeMap, type AttributeMap } from './attribute-value';
import { DynamoServiceError, type DynamoCaller } from './dynamo-wire';
import { classifyFault } from './faults';
import type { Item } from './item-codec';
import { PARTITION_KEY } from './table';
import { StoreUnavailable } from '../errors';

/** One DynamoDB call as the metrics see it. */
export interface StoreCallReport {
  readonly operation: 'UpdateItem' | 'GetItem' | 'PutItem' | 'BatchGetItem';
  readonly seconds: number;
  readonly outcome: 'ok' | 'condition-failed' | StoreUnavailable['kind'];
  /** Write units DynamoDB says the call consumed (ReturnConsumedCapacity), for applied writes. */
  readonly writeUnits?: number;
}

export type WriteOutcome =
  { readonly applied: true; readonly item: Item } | { readonly applied: false; readonly item: Item | undefined };

/**
 * The store's calls on the wire: each one timed and reported (never failing a request for it), a
 * failed condition turned into a result, and every other failure into what the answer needs
 * (classifyFault: a bounded 503, a 400, or a bug).
 */
export class ItemCalls {
  constructor(
    private readonly dynamo: DynamoCaller,
    readonly table: string,
    private readonly onStoreCall: (call: StoreCallReport) => void,
  ) {}

  /** A conditional UpdateItem; a failed condition hands back the current item (ALL_OLD). */
  async update(request: object, deadline: number): Promise<WriteOutcome> {
    const outcome = await this.call('UpdateItem', request, deadline, true);
    if (outcome.conditionFailed) {
      const old = outcome.answer.Item as AttributeMap | undefined;
      return { applied: false, item: old ? fromAttributeMap(old) : undefined };
    }
    return { applied: true, item: fromAttributeMap((outcome.answer.Attributes ?? {}) as AttributeMap) };
  }

  /** One item, strongly consistent. */
  async read(key: string, deadline: number): Promise<Item | undefined> {
    const { answer } = await this.call(
      'GetItem',
      { TableName: this.table, Key: { [PARTITION_KEY]: { S: key } }, ConsistentRead: true },
      deadline,
      false,
    );
    return answer.Item ? fromAttributeMap(answer.Item as AttributeMap) : undefined;
  }

  /** Sends one call; `conditionOk`: a failed condition is an answer, not an error. */
  async call(
    operation: StoreCallReport['operation'],
    request: object,
    deadline: number,
    conditionOk: boolean,
  ): Promise<{ answer: Record<string, unknown>; conditionFailed: boolean }> {
    const started = performance.now();
    try {
      const answer = await this.dynamo.call(operation, request, deadline);
      this.report(operation, started, 'ok', answer);
      return { answer, conditionFailed: false };
    } catch (error) {
      if (conditionOk && error instanceof DynamoServiceError && error.name === 'ConditionalCheckFailedException') {
        this.report(operation, started, 'condition-failed');
        return { answer: error.answer, conditionFailed: true };
      }
      const classified = classifyFault(error);
      this.report(operation, started, classified instanceof StoreUnavailable ? classified.kind : 'error');
      throw classified;
    }
  }

  destroy(): void {
    this.dynamo.destroy();
  }

  private report(
    operation: StoreCallReport['operation'],
    started: number,
    outcome: StoreCallReport['outcome'],
    answer?: Record<string, unknown>,
  ): void {
    const writeUnits = (answer?.ConsumedCapacity as { CapacityUnits?: number } | undefined)?.CapacityUnits;
    try {
      this.onStoreCall({
        operation,
        seconds: (performance.now() - started) / 1000,
        outcome,
        ...(writeUnits !== undefined && { writeUnits }),
      });
    } catch {
      // Metrics must never break a request.
    }
  }
}
