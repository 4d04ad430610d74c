/**
 * Player SDK for the concurrent-stream limiter. One entry, named exports only and no side effects at import,
 * so a bundler keeps only what a player uses (a Node script need not carry the media binding).
 */
export { createStreamLimiterClient, type StreamLimiterClient } from './client.js';
export {
  StreamLimiterError,
  StreamLimitReachedError,
  StreamTerminatedError,
  type ProblemDetails,
  type StreamLimiterErrorInit,
  type TerminationReason,
} from './errors.js';
export { EventStreamParser, type ServerSentEvent } from './events.js';
export {
  bindToMedia,
  type BindToMediaOptions,
  type MediaBinding,
  type MediaBindingState,
  type MediaLike,
} from './media.js';
export type {
  ExpiredInfo,
  RenewedInfo,
  StreamSession,
  StreamSessionEventMap,
  StreamSessionListener,
  StreamSessionState,
  TerminatedInfo,
} from './session.js';
export type {
  AdmissionPolicy,
  CheckResult,
  FetchLike,
  LiveStream,
  ReleaseOnPageHide,
  RemoveResult,
  ResumeStorage,
  RetryPolicy,
  StartOptions,
  StreamLease,
  StreamLimiterClientOptions,
  StreamRef,
  UserStreams,
} from './types.js';
