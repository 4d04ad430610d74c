import { z } from 'zod';
import { ValidationError, type FieldError } from '../errors';
import { ADMISSION_POLICIES } from '../leases/model';

/*
 * Every input the API accepts, as strict zod schemas: unknown fields are
 * refused (so a typo such as `streamID` cannot silently become a new,
 * server-generated stream on every retry) and `null` in an optional field
 * means absent. The OpenAPI document is generated from these same schemas.
 */

const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+-]*$/;
const STREAM_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const METADATA_KEY = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

const codePoints = (value: string) => [...value].length;

/** The contract's bound on all of a stream's metadata, keys included. */
export const METADATA_MAX_BYTES = 2048;
const metadataBytes = (metadata: Record<string, string>) =>
  Object.entries(metadata).reduce(
    (bytes, [key, value]) => bytes + Buffer.byteLength(key) + Buffer.byteLength(value),
    0,
  );

export const userIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(USER_ID, 'must start with a letter or digit and contain only A-Z a-z 0-9 . _ : @ + -')
  .meta({ description: 'The user whose concurrent streams are limited.', example: 'ab-12345' });

export const streamIdSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(STREAM_ID, 'must start with a letter or digit and contain only A-Z a-z 0-9 . _ : -')
  .meta({
    description: 'One playback session; players should send their own so retries are idempotent.',
    example: 'tv-livingroom-7f3a',
  });

export const deviceIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(USER_ID, 'must start with a letter or digit and contain only A-Z a-z 0-9 . _ : @ + -')
  .meta({ description: 'Shown back to the user when choosing a stream to stop.', example: 'living-room-tv' });

export const metadataSchema = z
  .record(
    z
      .string()
      .min(1)
      .max(64)
      .regex(METADATA_KEY, 'keys must start with a letter or digit and contain only A-Z a-z 0-9 . _ : -'),
    // maxLength counts code points in JSON Schema, as the refine does: the document states the same bound.
    z
      .string()
      .refine((value) => codePoints(value) <= 256, 'must be at most 256 characters')
      .meta({ maxLength: 256 }),
  )
  .refine((metadata) => Object.keys(metadata).length <= 10, 'at most 10 entries')
  .refine(
    (metadata) => metadataBytes(metadata) <= METADATA_MAX_BYTES,
    `at most ${METADATA_MAX_BYTES} bytes of UTF-8 in all, keys included`,
  )
  .meta({
    description: `Up to 10 string values (at most 256 characters each, and at most ${METADATA_MAX_BYTES} bytes of UTF-8 in all, keys included), stored with the lease and listed back.`,
    example: { title: 'Big Buck Bunny' },
    maxProperties: 10,
  });

export const weightSchema = z.number().int().min(0).max(10).meta({
  description:
    'Slots the stream takes (a UHD stream 2, an audio-only or trailer preview 0); 1 when absent. The limit bounds the sum over live streams.',
  example: 1,
});

export const policySchema = z.enum(ADMISSION_POLICIES).meta({
  description:
    'What an add does for a full user: block-new answers 409; evict-oldest ends the oldest live stream(s) to make room.',
});

/** Optional field where `null` means absent. */
const optional = <T extends z.ZodType>(schema: T) => schema.nullish().transform((value) => value ?? undefined);

export const addStreamBody = z
  .strictObject({
    userId: userIdSchema,
    streamId: optional(streamIdSchema),
    deviceId: optional(deviceIdSchema),
    metadata: optional(metadataSchema),
    weight: optional(weightSchema),
    replaceStreamId: optional(streamIdSchema).meta({
      description:
        'End this live stream of the same user and admit the new one in the same atomic write. Must differ from streamId; if that stream is not live, the add proceeds as a plain add.',
    }),
  })
  .refine((body) => body.replaceStreamId === undefined || body.replaceStreamId !== body.streamId, {
    path: ['replaceStreamId'],
    message: 'must differ from streamId',
  })
  .meta({ id: 'AddStreamRequest' });

export const heartbeatBody = z
  .strictObject({ userId: userIdSchema, streamId: streamIdSchema })
  .meta({ id: 'HeartbeatRequest' });

export const removeStreamBody = z
  .strictObject({
    userId: userIdSchema,
    streamId: optional(streamIdSchema).meta({
      description: 'Absent or null: release the live stream expiring soonest (counter-style clients).',
    }),
  })
  .meta({ id: 'RemoveStreamRequest' });

export const checkBody = z
  .strictObject({ userId: userIdSchema, weight: optional(weightSchema) })
  .meta({ id: 'CheckRequest' });

export const userPathParams = z.strictObject({ userId: userIdSchema });

export const setLimitBody = z
  .strictObject({
    limit: optional(
      z
        .number()
        .int()
        .min(0)
        .max(100)
        .meta({ description: 'Slots (concurrent streams of weight 1) allowed for this user.' }),
    ),
    policy: optional(policySchema),
  })
  .refine((body) => body.limit !== undefined || body.policy !== undefined, {
    path: [],
    message: 'needs limit, policy or both',
  })
  .meta({ id: 'SetLimitRequest' });

/** Every problem, paths as the contract spells them; ValidationError keeps each field's first, at most 20. */
function toFieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.flatMap((issue): FieldError[] => {
    const base = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: base ? `${base}.${key}` : key, message: 'unknown field' }));
    }
    if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) {
      return [{ path: base, message: 'is required' }];
    }
    return [{ path: base, message: issue.message }];
  });
}

/** Parses input with a schema or throws the contract's VALIDATION_ERROR listing every bad field. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(toFieldErrors(result.error));
  return result.data;
}
