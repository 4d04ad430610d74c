import { types } from 'node:util';
import { ApiError, StoreUnavailable } from '../errors';

/* What a failed store call means for the answer: a bounded 503, a 400, or a bug of ours. */

/** The item was too big for DynamoDB (400 KB): the caller asked to store too much metadata. */
export class ItemTooLarge extends ApiError {
  constructor() {
    super(400, 'VALIDATION_ERROR', 'Validation failed', "metadata: too large to store with this user's other streams", {
      errors: [{ path: 'metadata', message: "too large to store with this user's other streams" }],
    });
  }
}

function isNetworkFault(error: Error & { code?: string }): boolean {
  return (
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'EPIPE',
      'ETIMEDOUT',
      'ENOTFOUND',
      'EAI_AGAIN',
      'EHOSTUNREACH',
      'ECONNABORTED',
      'UND_ERR_SOCKET',
    ].includes(error.code ?? '') || /socket hang up|network|connect/i.test(error.message)
  );
}

/** Every fault of the store becomes a bounded 503; only a real bug stays an exception. */
export function classifyFault(error: unknown): StoreUnavailable | ApiError | Error {
  // isNativeError too: socket errors come from Node's own realm, which `instanceof` misses under jest's vm.
  if (!(error instanceof Error || types.isNativeError(error))) return new StoreUnavailable('error', { cause: error });
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  switch (error.name) {
    case 'AbortError':
    case 'TimeoutError':
    case 'RequestTimeout':
      return new StoreUnavailable('timeout', { cause: error });
    case 'ProvisionedThroughputExceededException':
    case 'ThrottlingException':
    case 'RequestLimitExceeded':
      return new StoreUnavailable('throttled', { cause: error });
    case 'ResourceNotFoundException':
      return new StoreUnavailable('missing-table', { cause: error });
    case 'ValidationException':
      if (/item size/i.test(error.message)) return new ItemTooLarge();
      return error;
  }
  if (isNetworkFault(error)) return new StoreUnavailable('unreachable', { cause: error });
  // Anything that is not an answer from DynamoDB (DynamoWire's or the SDK's errors carry $metadata) nor a
  // credentials failure (a marshalling error, say) is a bug of ours: a 503 would invite players to retry
  // a request that can never succeed.
  const fromStore = '$metadata' in error || '$fault' in error || error.name === 'CredentialsProviderError';
  if (!fromStore) return error;
  // 5xx, credentials, access denied, unexpected HTTP answers: the store is unusable right now.
  if (status === undefined || status >= 500 || status === 400 || status === 403) {
    return new StoreUnavailable('error', { cause: error });
  }
  return error;
}
