import { z } from 'zod';
import { PROBLEM_CODES } from '../errors';
import { deviceIdSchema, metadataSchema, policySchema, streamIdSchema, userIdSchema, weightSchema } from './schemas';

/*
 * What the API answers, as zod schemas, so the OpenAPI document is generated
 * from one description (src/http/openapi/) and the tests can check real
 * answers against the very schemas the document shows. Objects are not
 * strict: a client must tolerate fields added later.
 */

/** ISO 8601 UTC with milliseconds, as the contract fixes it. */
const timestamp = (description: string) =>
  z.iso.datetime({ precision: 3 }).meta({ description, example: '2026-11-23T10:15:30.123Z' });

const count = (description: string) => z.number().int().min(0).meta({ description });

const limit = z.number().int().min(0).max(100).meta({
  description: 'The slots in force for this user: the most the weights of their live streams may add up to.',
  example: 3,
});

const slotsInUse = z.number().int().min(0).meta({
  description: "The sum of the user's live streams' weights (this one included where it is live).",
  example: 1,
});

const admissionPolicy = policySchema.meta({ description: 'The admission policy in force for this user.' });

/** A stream named by an eviction: `evicted` in an add's answer, `wouldEvict` in a check's. */
export const streamRefSchema = z
  .object({ streamId: streamIdSchema, deviceId: deviceIdSchema.optional() })
  .meta({ id: 'StreamRef', description: 'A stream, with its device when one was given.' });

export const liveStreamSchema = z
  .object({
    streamId: streamIdSchema,
    deviceId: deviceIdSchema.optional(),
    metadata: metadataSchema.optional(),
    weight: weightSchema,
    startedAt: timestamp('When the stream was admitted.'),
    expiresAt: timestamp('When the lease runs out unless a heartbeat renews it.'),
  })
  .meta({ id: 'LiveStream', description: 'A live lease.' });

/** A live lease as answers show it (the 409's `streams`, the list's entries). */
export type LiveStreamView = z.infer<typeof liveStreamSchema>;

export const leaseResponse = z
  .object({
    userId: userIdSchema,
    streamId: streamIdSchema,
    activeStreams: count('Live streams of the user, this one included.'),
    limit,
    expiresAt: timestamp('When the lease runs out unless a heartbeat renews it.'),
    heartbeatIntervalSeconds: z
      .number()
      .int()
      .min(1)
      .meta({ description: 'How often the player should send a heartbeat.', example: 30 }),
    slotsInUse,
    policy: admissionPolicy,
    evicted: z.array(streamRefSchema).min(1).optional().meta({
      description:
        'evict-oldest only: the streams this add ended to make room (their heartbeats answer 410 `evicted`).',
    }),
    degraded: z.literal(true).optional().meta({
      description:
        'STORE_FAILURE_MODE=open only: the store was unavailable, so this lease was not stored (counts are this stream alone). Keep heartbeating: once the store is back, a heartbeat answers 404 and the player adds again.',
    }),
  })
  .meta({
    id: 'StreamLease',
    description: 'A live lease: admitted (201), renewed by a retried add (200) or by a heartbeat (200).',
    example: {
      userId: 'ab-12345',
      streamId: 'tv-livingroom-7f3a',
      activeStreams: 1,
      limit: 3,
      expiresAt: '2026-11-23T10:15:30.123Z',
      heartbeatIntervalSeconds: 30,
      slotsInUse: 1,
      policy: 'block-new',
    },
  });

export const removeResponse = z
  .object({
    userId: userIdSchema,
    streamId: streamIdSchema
      .nullable()
      .meta({ description: 'The stream released, or null when nothing was live and none was named.' }),
    removed: z.boolean().meta({ description: 'False when there was no such live stream (remove is idempotent).' }),
    activeStreams: count('Live streams of the user after the removal.'),
    limit,
  })
  .meta({
    id: 'StreamRemoval',
    description: 'The outcome of a remove.',
    example: { userId: 'ab-12345', streamId: 'tv-livingroom-7f3a', removed: true, activeStreams: 0, limit: 3 },
  });

export const userStreamsResponse = z
  .object({
    userId: userIdSchema,
    limit,
    activeStreams: count('Number of live streams.'),
    slotsInUse,
    policy: admissionPolicy,
    streams: z.array(liveStreamSchema).meta({ description: 'Live leases only, ordered by startedAt.' }),
  })
  .meta({
    id: 'UserStreams',
    description: "A user's live streams, the limit and the admission policy in force.",
    example: {
      userId: 'ab-12345',
      limit: 3,
      activeStreams: 1,
      slotsInUse: 1,
      policy: 'block-new',
      streams: [
        {
          streamId: 'tv-livingroom-7f3a',
          deviceId: 'living-room-tv',
          weight: 1,
          startedAt: '2026-11-23T10:14:00.000Z',
          expiresAt: '2026-11-23T10:15:30.123Z',
        },
      ],
    },
  });

export const checkResponse = z
  .object({
    userId: userIdSchema,
    allowed: z.boolean().meta({
      description: 'Whether an add of that weight would be admitted now (under evict-oldest, by ending `wouldEvict`).',
    }),
    activeStreams: count('Number of live streams.'),
    slotsInUse,
    limit,
    policy: admissionPolicy,
    streams: z.array(liveStreamSchema).meta({ description: 'Live leases only, ordered by startedAt.' }),
    wouldEvict: z.array(streamRefSchema).optional().meta({
      description: 'evict-oldest only: the streams an add of that weight would end now (empty when it fits).',
    }),
  })
  .meta({
    id: 'StreamCheck',
    description: 'What an add would do now; nothing is written.',
    example: {
      userId: 'ab-12345',
      allowed: true,
      activeStreams: 3,
      slotsInUse: 3,
      limit: 3,
      policy: 'evict-oldest',
      streams: [],
      wouldEvict: [{ streamId: 'tv-livingroom-7f3a', deviceId: 'living-room-tv' }],
    },
  });

export const healthResponse = z.object({ status: z.literal('ok') }).meta({ id: 'Health', example: { status: 'ok' } });

export const readinessResponse = z
  .object({
    status: z.enum(['ready', 'unavailable']),
    reason: z.string().optional().meta({ description: 'Why the instance is not ready (store error, shutting down).' }),
  })
  .meta({ id: 'Readiness', example: { status: 'ready' } });

export const problemCodeSchema = z
  .enum(PROBLEM_CODES)
  .meta({ id: 'ProblemCode', description: 'Stable machine-readable error code.' });

const problemFields = {
  type: z
    .string()
    .regex(/^urn:stream-limiter:problem:[a-z-]+$/)
    .meta({
      description: 'URN naming the problem type: the code in kebab case.',
      example: 'urn:stream-limiter:problem:stream-limit-reached',
    }),
  title: z.string().meta({ description: 'Short summary of the problem type.' }),
  status: z.number().int().min(400).max(599).meta({ description: 'The HTTP status code.' }),
  detail: z.string().meta({ description: 'What went wrong with this request, for humans.' }),
};

export const problemSchema = z.object({ ...problemFields, code: problemCodeSchema }).meta({
  id: 'Problem',
  description: 'RFC 9457 problem details (application/problem+json) with a stable `code`.',
  example: {
    type: 'urn:stream-limiter:problem:store-unavailable',
    title: 'Store unavailable',
    status: 503,
    detail: 'The lease store did not answer in time; retry the same request (with the same streamId) shortly.',
    code: 'STORE_UNAVAILABLE',
  },
});

export const fieldErrorSchema = z
  .object({
    path: z.string().meta({
      description: 'The field: nested names joined by `.`; a path parameter by its name; `""` for the body itself.',
      example: 'metadata.title',
    }),
    message: z.string().meta({ example: 'unknown field' }),
  })
  .meta({ id: 'FieldError' });

export const validationProblemSchema = z
  .object({ ...problemFields, code: z.literal('VALIDATION_ERROR'), errors: z.array(fieldErrorSchema).min(1) })
  .meta({
    id: 'ValidationProblem',
    description: 'The body or a path parameter fails the schema; `errors` lists every bad field.',
  });

export const streamLimitProblemSchema = z
  .object({
    ...problemFields,
    code: z.literal('STREAM_LIMIT_REACHED'),
    userId: userIdSchema,
    limit,
    activeStreams: count('Live streams of the user.'),
    slotsInUse,
    streams: z
      .array(liveStreamSchema)
      .meta({ description: 'The live leases, so a player can offer "stop one of these".' }),
  })
  .meta({
    id: 'StreamLimitProblem',
    description:
      'The add does not fit: its weight is above the free slots (block-new), above the limit itself, or the user already holds the most weight-0 streams.',
  });

export const streamNotFoundProblemSchema = z
  .object({ ...problemFields, code: z.literal('STREAM_NOT_FOUND'), userId: userIdSchema, streamId: streamIdSchema })
  .meta({
    id: 'StreamNotFoundProblem',
    description: 'The stream is unknown or its lease expired: the player may add it again.',
  });

export const streamTerminatedProblemSchema = z
  .object({
    ...problemFields,
    code: z.literal('STREAM_TERMINATED'),
    userId: userIdSchema,
    streamId: streamIdSchema,
    reason: z.enum(['removed', 'replaced', 'evicted']),
    replacedBy: streamRefSchema.optional().meta({
      description: "Present when `reason` is `replaced` or `evicted`: the stream that took this one's place.",
    }),
  })
  .meta({
    id: 'StreamTerminatedProblem',
    description:
      'The stream was removed, replaced or evicted within the last LEASE_SECONDS: the player must stop, not add it again.',
  });

/** Why a stream ended, as its 410 says it. */
export type TerminationView = Pick<z.infer<typeof streamTerminatedProblemSchema>, 'reason' | 'replacedBy'>;
