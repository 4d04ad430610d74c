import { StreamNotFound, ValidationError } from '../../../errors';
import { EventsUnavailable, KEEP_ALIVE_MS } from '../../routes/events';
import { streamIdSchema, userIdSchema } from '../../schemas';
import { inlineSchema } from '../component-schemas';
import { ref, type Json } from '../json';
import type { OpenApiOptions } from '../options';
import { problemExample, problemResponse, requestIdHeader } from '../responses';

/*
 * GET /streams/events: not behind apiOperation, because its failures differ from the POSTs'
 * (query parameters, no body, its own 503 when this instance has no event stream).
 */

const SSE_EXAMPLE = [
  ': connected',
  '',
  ': keep-alive',
  '',
  'event: terminated',
  'data: {"userId":"ab-12345","streamId":"tv-livingroom-7f3a","reason":"replaced","replacedBy":{"streamId":"tablet-1b2c","deviceId":"kitchen-tablet"}}',
  '',
  '',
].join('\n');

export function eventsPaths(options: OpenApiOptions): Record<string, Json> {
  return {
    '/streams/events': {
      get: {
        tags: ['streams'],
        operationId: 'streamEvents',
        summary: 'Hear at once that a stream was removed, replaced or evicted (Server-Sent Events)',
        description:
          "Opens a `text/event-stream` for one live stream. When it is removed, replaced or evicted on any instance, one `terminated` event carries the same `reason` and `replacedBy` as the heartbeat's 410, and the service closes the stream; the player stops. " +
          `A \`: keep-alive\` comment comes every ${KEEP_ALIVE_MS / 1000} s (at most 25 s). Heartbeats remain the source of truth: a player that cannot keep the stream open loses nothing. ` +
          'Browsers read it with `fetch` so that the bearer header can be sent (`EventSource` cannot). A 503 means no event stream here (turned off, or the instance is shutting down): keep heartbeating and reconnect after `Retry-After`.',
        parameters: [
          { name: 'userId', in: 'query', required: true, description: 'The user.', schema: inlineSchema(userIdSchema) },
          {
            name: 'streamId',
            in: 'query',
            required: true,
            description: 'The live stream to follow.',
            schema: inlineSchema(streamIdSchema),
          },
          ref('parameters', 'RequestId'),
        ],
        security: options.authRequired ? [{ bearerAuth: [] }] : [],
        responses: {
          '200': {
            description:
              'The event stream: comments (`: connected`, `: keep-alive`) and at most one `event: terminated` whose `data` is `{ userId, streamId, reason, replacedBy? }`.',
            headers: requestIdHeader,
            content: { 'text/event-stream': { schema: { type: 'string' }, example: SSE_EXAMPLE } },
          },
          '400': problemResponse(
            '`VALIDATION_ERROR`: a query parameter is missing, repeated, unknown or fails the schema.',
            ['ValidationProblem'],
            { VALIDATION_ERROR: problemExample(new ValidationError([{ path: 'streamId', message: 'is required' }])) },
          ),
          ...(options.authRequired && {
            '401': ref('responses', 'Unauthenticated'),
            '403': ref('responses', 'Forbidden'),
          }),
          '404': problemResponse(
            '`STREAM_NOT_FOUND`: the stream is not live now (unknown, expired or already ended).',
            ['StreamNotFoundProblem'],
            { STREAM_NOT_FOUND: problemExample(new StreamNotFound('ab-12345', 'tv-livingroom-7f3a')) },
          ),
          '405': ref('responses', 'MethodNotAllowed'),
          ...(options.rateLimited && { '429': ref('responses', 'RateLimited') }),
          '500': ref('responses', 'Internal'),
          '503': problemResponse(
            '`STORE_UNAVAILABLE`: the store did not answer the connect-time read, or this instance has no event stream (STREAM_EVENTS=off, or shutting down); retry after `Retry-After`, heartbeating meanwhile.',
            ['Problem'],
            {
              off: problemExample(new EventsUnavailable('off')),
              draining: problemExample(new EventsUnavailable('draining')),
            },
            { 'Retry-After': ref('headers', 'RetryAfter') },
          ),
        },
      },
    },
  };
}
