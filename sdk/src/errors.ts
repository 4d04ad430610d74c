import type { LiveStream, StreamRef } from './types.js';

/** An RFC 9457 problem body as the service writes it. */
export interface ProblemDetails {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  [extra: string]: unknown;
}

export interface StreamLimiterErrorInit {
  status: number;
  code: string;
  body?: ProblemDetails | undefined;
  retryAfterMs?: number | undefined;
  requestId?: string | undefined;
  cause?: unknown;
}

/**
 * Any failure of a call: an HTTP error answer (`status`, `code` and the problem `body`), or, with
 * `status` 0, a client-side one: `NETWORK_ERROR`, `REQUEST_TIMEOUT`, `INVALID_RESPONSE`, `CLIENT_ERROR`.
 */
export class StreamLimiterError extends Error {
  override name = 'StreamLimiterError';
  readonly status: number;
  readonly code: string;
  readonly body: ProblemDetails | undefined;
  /** From `Retry-After`, when the answer carried one the browser lets us read. */
  readonly retryAfterMs: number | undefined;
  readonly requestId: string | undefined;

  constructor(message: string, init: StreamLimiterErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.body = init.body;
    this.retryAfterMs = init.retryAfterMs;
    this.requestId = init.requestId;
  }
}

/** 409 `STREAM_LIMIT_REACHED`: `streams` are the live leases, so the player can offer to replace one. */
export class StreamLimitReachedError extends StreamLimiterError {
  override name = 'StreamLimitReachedError';
  readonly limit: number;
  readonly activeStreams: number;
  readonly streams: LiveStream[];

  constructor(message: string, init: StreamLimiterErrorInit) {
    super(message, init);
    const body = init.body ?? {};
    this.limit = typeof body.limit === 'number' ? body.limit : 0;
    this.activeStreams = typeof body.activeStreams === 'number' ? body.activeStreams : 0;
    this.streams = Array.isArray(body.streams) ? (body.streams as LiveStream[]) : [];
  }
}

export type TerminationReason = 'removed' | 'replaced' | 'evicted';

/**
 * 410 `STREAM_TERMINATED` (or the event stream's `terminated` event): the stream was removed, replaced or
 * evicted; it must not be added again automatically.
 */
export class StreamTerminatedError extends StreamLimiterError {
  override name = 'StreamTerminatedError';
  readonly reason: TerminationReason;
  /** For `replaced` and `evicted`: the stream that took the slot. */
  readonly replacedBy: StreamRef | undefined;

  constructor(message: string, init: StreamLimiterErrorInit) {
    super(message, init);
    const body = init.body ?? {};
    this.reason = terminationReason(body.reason);
    this.replacedBy = streamRef(body.replacedBy);
  }
}

/** An unknown reason from a newer service is reported as `removed`: the player stops either way. */
function terminationReason(value: unknown): TerminationReason {
  return value === 'replaced' || value === 'evicted' ? value : 'removed';
}

/** `{ streamId, deviceId? }` from an answer, or undefined when it is not one. */
export function streamRef(value: unknown): StreamRef | undefined {
  if (!isRecord(value) || typeof value.streamId !== 'string') return undefined;
  return typeof value.deviceId === 'string'
    ? { streamId: value.streamId, deviceId: value.deviceId }
    : { streamId: value.streamId };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The typed error for an HTTP error answer. */
export function errorFromAnswer(
  method: string,
  path: string,
  response: Response,
  body: unknown,
  requestId: string | undefined,
): StreamLimiterError {
  const problem = isRecord(body) ? (body as ProblemDetails) : undefined;
  const code = typeof problem?.code === 'string' ? problem.code : `HTTP_${response.status}`;
  const detail =
    typeof problem?.detail === 'string'
      ? problem.detail
      : typeof problem?.title === 'string'
        ? problem.title
        : response.statusText;
  const message = `${method} ${path}: ${response.status} ${code}${detail ? ` (${detail})` : ''}`;
  const init: StreamLimiterErrorInit = {
    status: response.status,
    code,
    body: problem,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after')),
    requestId,
  };
  if (response.status === 409 && code === 'STREAM_LIMIT_REACHED') return new StreamLimitReachedError(message, init);
  if (response.status === 410 && code === 'STREAM_TERMINATED') return new StreamTerminatedError(message, init);
  return new StreamLimiterError(message, init);
}

/** `Retry-After` as delay-seconds or an HTTP date. */
function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export function asLimiterError(error: unknown): StreamLimiterError {
  if (error instanceof StreamLimiterError) return error;
  // getToken failing, say: retried in the background like a network error.
  return new StreamLimiterError(`request failed: ${String(error)}`, { status: 0, code: 'CLIENT_ERROR', cause: error });
}
