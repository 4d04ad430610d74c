import { z } from 'zod';
import { StreamNotFound, ValidationError } from '../../../errors';
import { problemBody } from '../../problem';
import { EventsUnavailable, KEEP_ALIVE_MS } from '../../routes/events';
import { streamIdSchema, userIdSchema } from '../../schemas';

/*
 * GET /streams/events in the OpenAPI document, beside the route it describes. Self-contained (only
 * `$ref`s into the document's components), so openapi.ts needs one line to include it.
 */

type Json = Record<string, unknown>;

const ref = (kind: string, name: string) => ({ $ref: `#/components/${kind}/${name}` });
const requestIdHeader = { 'X-Request-Id': ref('headers', 'XRequestId') };
const schemaOf = (schema: z.ZodType): Json => {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' }) as Json;
  return Object.fromEntries(Object.entries(json).filter(([key]) => key !== '$schema'));
};
const problem = (
  description: string,
  schema: string,
  examples: Record<string, ApiErrorLike>,
  headers: Json = {},
): Json => ({
  description,
  headers: { ...requestIdHeader, ...headers },
  content: {
    'application/problem+json': {
      schema: ref('schemas', schema),
      examples: Object.fromEntries(
        Object.entries(examples).map(([name, error]) => [name, { summary: error.title, value: problemBody(error) }]),
      ),
    },
  },
});
type ApiErrorLike = Parameters<typeof problemBody>[0];

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

export function eventsPaths(options: {
  readonly authRequired: boolean;
  readonly rateLimited: boolean;
}): Record<string, Json> {
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
          { name: 'userId', in: 'query', required: true, description: 'The user.', schema: schemaOf(userIdSchema) },
          {
            name: 'streamId',
            in: 'query',
            required: true,
            description: 'The live stream to follow.',
            schema: schemaOf(streamIdSchema),
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
          '400': problem(
            '`VALIDATION_ERROR`: a query parameter is missing, repeated, unknown or fails the schema.',
            'ValidationProblem',
            {
              VALIDATION_ERROR: new ValidationError([{ path: 'streamId', message: 'is required' }]),
            },
          ),
          ...(options.authRequired && {
            '401': ref('responses', 'Unauthenticated'),
            '403': ref('responses', 'Forbidden'),
          }),
          '404': problem(
            '`STREAM_NOT_FOUND`: the stream is not live now (unknown, expired or already ended).',
            'StreamNotFoundProblem',
            {
              STREAM_NOT_FOUND: new StreamNotFound('ab-12345', 'tv-livingroom-7f3a'),
            },
          ),
          '405': ref('responses', 'MethodNotAllowed'),
          ...(options.rateLimited && { '429': ref('responses', 'RateLimited') }),
          '500': ref('responses', 'Internal'),
          '503': problem(
            '`STORE_UNAVAILABLE`: the store did not answer the connect-time read, or this instance has no event stream (STREAM_EVENTS=off, or shutting down); retry after `Retry-After`, heartbeating meanwhile.',
            'Problem',
            { off: new EventsUnavailable('off'), draining: new EventsUnavailable('draining') },
            { 'Retry-After': ref('headers', 'RetryAfter') },
          ),
        },
      },
    },
  };
}
