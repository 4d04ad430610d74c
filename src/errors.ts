import type { LiveStreamView, TerminationView } from './http/response-schemas';

/**
 * Every stable `code` a problem body may carry (the contract's table plus the stream outcomes),
 * written once: `ApiError.code` is typed by it and the OpenAPI `ProblemCode` enum is built from it.
 */
export const PROBLEM_CODES = [
  'VALIDATION_ERROR',
  'MALFORMED_JSON',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'STREAM_NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'STREAM_LIMIT_REACHED',
  'STREAM_TERMINATED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RATE_LIMITED',
  'STORE_UNAVAILABLE',
  'INTERNAL',
] as const;

export type ProblemCode = (typeof PROBLEM_CODES)[number];

/**
 * One class per contract error code. The HTTP layer turns any ApiError into
 * application/problem+json; `extras` become extra members of the problem body.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ProblemCode,
    readonly title: string,
    readonly detail: string,
    readonly extras: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(detail, options);
    this.name = new.target.name;
  }
}

export interface FieldError {
  path: string;
  message: string;
}

/** The contract lists at most this many entries in `errors[]`: the first problems found. */
export const MAX_FIELD_ERRORS = 20;

/**
 * One entry per path (its first problem), at most MAX_FIELD_ERRORS of them, in the order found.
 * One pass with a Set: a 16 KiB body of bad fields yields thousands of issues, and a pairwise
 * de-duplication would make such a body cost far more CPU than a good one.
 */
export function firstFieldErrors(errors: Iterable<FieldError>): { errors: FieldError[]; total: number } {
  const seen = new Set<string>();
  const first: FieldError[] = [];
  for (const error of errors) {
    if (seen.has(error.path)) continue;
    seen.add(error.path);
    if (first.length < MAX_FIELD_ERRORS) first.push(error);
  }
  return { errors: first, total: seen.size };
}

export class ValidationError extends ApiError {
  readonly errors: FieldError[];
  constructor(fieldErrors: FieldError[]) {
    const { errors, total } = firstFieldErrors(fieldErrors);
    super(400, 'VALIDATION_ERROR', 'Validation failed', describeFieldErrors(errors, total), { errors });
    this.errors = errors;
  }
}

function describeFieldErrors(errors: FieldError[], total: number): string {
  const first = errors[0];
  if (!first) return 'The request is not valid.';
  const where = first.path === '' ? 'body' : first.path;
  const more = total > 1 ? ` (and ${total - 1} more)` : '';
  return `${where}: ${first.message}${more}`;
}

export class MalformedJson extends ApiError {
  constructor(detail = 'The request body is not valid JSON.') {
    super(400, 'MALFORMED_JSON', 'Malformed JSON', detail);
  }
}

export class Unauthenticated extends ApiError {
  /** `missing`: no credentials at all, so per RFC 6750 the challenge carries no error code. */
  constructor(detail: string, error: 'missing' | 'invalid_request' | 'invalid_token') {
    const challenge =
      error === 'missing'
        ? 'Bearer realm="stream-limiter"'
        : `Bearer realm="stream-limiter", error="${error}", error_description="${detail.replace(/["\\]/g, "'")}"`;
    super(401, 'UNAUTHENTICATED', 'Unauthenticated', detail, {}, { 'WWW-Authenticate': challenge });
  }
}

export class Forbidden extends ApiError {
  constructor(detail: string) {
    super(403, 'FORBIDDEN', 'Forbidden', detail);
  }
}

export class RouteNotFound extends ApiError {
  constructor(method: string, path: string) {
    super(404, 'NOT_FOUND', 'Not found', `No route for ${method} ${path}.`);
  }
}

export class StreamNotFound extends ApiError {
  constructor(userId: string, streamId: string) {
    super(
      404,
      'STREAM_NOT_FOUND',
      'Stream not found',
      `Stream ${streamId} of user ${userId} is unknown or its lease expired; add it again to resume.`,
      {
        userId,
        streamId,
      },
    );
  }
}

export class MethodNotAllowed extends ApiError {
  constructor(method: string, path: string, allow: string[]) {
    super(
      405,
      'METHOD_NOT_ALLOWED',
      'Method not allowed',
      `${method} is not allowed on ${path}; use ${allow.join(', ')}.`,
      {},
      {
        Allow: allow.join(', '),
      },
    );
  }
}

export class StreamLimitReached extends ApiError {
  constructor(userId: string, limit: number, streams: LiveStreamView[]) {
    const slotsInUse = streams.reduce((slots, stream) => slots + stream.weight, 0);
    super(
      409,
      'STREAM_LIMIT_REACHED',
      'Stream limit reached',
      `User ${userId} already uses ${slotsInUse} of ${limit} slots with ${streams.length} live streams; stop one (or add with replaceStreamId) to start another.`,
      { userId, limit, activeStreams: streams.length, slotsInUse, streams },
    );
  }
}

export class StreamTerminated extends ApiError {
  constructor(userId: string, streamId: string, termination: TerminationView) {
    const by = termination.replacedBy?.streamId ?? 'another stream';
    const why = {
      removed: 'was removed',
      replaced: `was replaced by stream ${by}`,
      evicted: `was ended to make room for stream ${by}`,
    }[termination.reason];
    super(
      410,
      'STREAM_TERMINATED',
      'Stream terminated',
      `Stream ${streamId} ${why}; stop playback and do not add it again.`,
      {
        userId,
        streamId,
        ...termination,
      },
    );
  }
}

export class PayloadTooLarge extends ApiError {
  constructor(limitBytes: number) {
    super(413, 'PAYLOAD_TOO_LARGE', 'Payload too large', `The request body exceeds ${limitBytes} bytes.`);
  }
}

export class UnsupportedMediaType extends ApiError {
  constructor(detail = 'POST bodies must be JSON with Content-Type: application/json.') {
    super(415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported media type', detail);
  }
}

export class RateLimited extends ApiError {
  constructor(retryAfterSeconds: number) {
    super(
      429,
      'RATE_LIMITED',
      'Too many requests',
      `Rate limit exceeded; retry in ${retryAfterSeconds} s.`,
      {},
      {
        'Retry-After': String(retryAfterSeconds),
      },
    );
  }
}

/** The store is unreachable, throttling or too slow; the request was not (or may not have been) applied. */
export class StoreUnavailable extends ApiError {
  constructor(
    readonly kind: 'timeout' | 'throttled' | 'unreachable' | 'missing-table' | 'error',
    options?: { cause?: unknown },
  ) {
    super(
      503,
      'STORE_UNAVAILABLE',
      'Store unavailable',
      'The lease store did not answer in time; retry the same request (with the same streamId) shortly.',
      {},
      { 'Retry-After': '1' },
      options,
    );
  }
}

export class InternalError extends ApiError {
  constructor() {
    super(500, 'INTERNAL', 'Internal error', 'An unexpected error occurred; it has been logged.');
  }
}
