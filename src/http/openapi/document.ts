import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Config } from '../../config';
import {
  ApiError,
  Forbidden,
  InternalError,
  MalformedJson,
  MethodNotAllowed,
  RateLimited,
  StoreUnavailable,
  StreamLimitReached,
  StreamNotFound,
  StreamTerminated,
  Unauthenticated,
  UnsupportedMediaType,
  ValidationError,
  PayloadTooLarge,
} from '../../errors';
import { BODY_LIMIT_BYTES, problemBody } from '../problem';
import { eventsPaths } from './paths/events';
import {
  fieldErrorSchema,
  checkResponse,
  healthResponse,
  leaseResponse,
  liveStreamSchema,
  problemCodeSchema,
  problemSchema,
  readinessResponse,
  removeResponse,
  streamLimitProblemSchema,
  streamNotFoundProblemSchema,
  streamRefSchema,
  streamTerminatedProblemSchema,
  userStreamsResponse,
  validationProblemSchema,
} from '../response-schemas';
import { addStreamBody, checkBody, heartbeatBody, removeStreamBody, setLimitBody, userIdSchema } from '../schemas';

/*
 * The OpenAPI 3.1 document, generated from the zod schemas the routes
 * validate with (src/http/schemas.ts) and the response schemas
 * (src/http/response-schemas.ts): there is no hand-kept copy of a body to
 * drift. What is written here is the part zod cannot know: which path
 * answers which status with which code. test/integration/openapi.test.ts
 * holds it to the router (every route documented, nothing else) and to real
 * answers.
 */

type Json = Record<string, unknown>;

export interface OpenApiOptions {
  /** BASE_PATH: the API's server URL; /healthz, /readyz and /metrics also answer at the root. */
  readonly basePath: string;
  /** AUTH_MODE=jwt: API operations need a bearer token and may answer 401/403. */
  readonly authRequired: boolean;
  /** RATE_LIMIT_PER_MINUTE > 0: API operations may answer 429. */
  readonly rateLimited: boolean;
}

export function openApiOptions(config: Config): OpenApiOptions {
  return {
    basePath: config.basePath,
    authRequired: config.auth.mode === 'jwt',
    rateLimited: config.rateLimitPerMinute > 0,
  };
}

/** Every schema the document names, in components.schemas under its `.meta({ id })`. */
const NAMED_SCHEMAS: readonly z.ZodType[] = [
  addStreamBody,
  heartbeatBody,
  removeStreamBody,
  checkBody,
  setLimitBody,
  leaseResponse,
  checkResponse,
  streamRefSchema,
  removeResponse,
  userStreamsResponse,
  liveStreamSchema,
  healthResponse,
  readinessResponse,
  problemCodeSchema,
  problemSchema,
  fieldErrorSchema,
  validationProblemSchema,
  streamLimitProblemSchema,
  streamNotFoundProblemSchema,
  streamTerminatedProblemSchema,
];

const JSON_SCHEMA_OPTIONS = {
  target: 'draft-2020-12',
  // Requests are documented as clients send them (before `null` becomes absent); responses have no transforms.
  io: 'input',
  override: ({ jsonSchema }: { jsonSchema: Json }) => {
    // zod spells "date-time" out as a long regex too; the format says it, the description gives the precision.
    if (jsonSchema.format === 'date-time') delete jsonSchema.pattern;
    // z.number().int() bounds unbounded integers by the safe-integer range: noise to a reader.
    if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
    if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
  },
} as const;

function componentSchemas(): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const schema of NAMED_SCHEMAS) {
    const id = z.globalRegistry.get(schema)?.id;
    if (!id) throw new Error('every schema in the OpenAPI document needs .meta({ id })');
    registry.add(schema, { id });
  }
  const { schemas } = z.toJSONSchema(registry, { ...JSON_SCHEMA_OPTIONS, uri: (id) => `#/components/schemas/${id}` });
  const shared = schemas.__shared as { $defs?: Json } | undefined;
  if (shared) {
    throw new Error(`schemas with an id but missing from NAMED_SCHEMAS: ${Object.keys(shared.$defs ?? {}).join(', ')}`);
  }
  // The dialect is the document's; a fragment-only $id is not a valid JSON Schema $id.
  return Object.fromEntries(
    Object.entries(schemas).map(([id, schema]) => [id, withoutKeys(schema as Json, '$schema', '$id')]),
  );
}

function withoutKeys(object: Json, ...keys: string[]): Json {
  return Object.fromEntries(Object.entries(object).filter(([key]) => !keys.includes(key)));
}

function inlineSchema(schema: z.ZodType): Json {
  return withoutKeys(z.toJSONSchema(schema, JSON_SCHEMA_OPTIONS) as Json, '$schema');
}

const ref = (kind: 'schemas' | 'responses' | 'headers' | 'parameters', name: string) => ({
  $ref: `#/components/${kind}/${name}`,
});

/** The body problem.ts writes for this error, as an example. */
function problemExample(error: ApiError, summary = error.title): Json {
  return { summary, value: problemBody(error) };
}

const requestIdHeader = { 'X-Request-Id': ref('headers', 'XRequestId') };

function problemResponse(
  description: string,
  schemas: string[],
  examples: Record<string, Json>,
  headers: Json = {},
): Json {
  const schema =
    schemas.length === 1 ? ref('schemas', schemas[0]!) : { anyOf: schemas.map((id) => ref('schemas', id)) };
  return {
    description,
    headers: { ...requestIdHeader, ...headers },
    content: { 'application/problem+json': { schema, examples } },
  };
}

function jsonResponse(description: string, schemaId: string, headers: Json = {}): Json {
  return {
    description,
    headers: { ...requestIdHeader, ...headers },
    content: { 'application/json': { schema: ref('schemas', schemaId) } },
  };
}

const sampleLive = [
  {
    streamId: 'tv-livingroom-7f3a',
    deviceId: 'living-room-tv',
    weight: 1,
    startedAt: '2026-11-23T10:00:00.000Z',
    expiresAt: '2026-11-23T10:16:00.000Z',
  },
  { streamId: 'phone-9c1d', weight: 1, startedAt: '2026-11-23T10:05:00.000Z', expiresAt: '2026-11-23T10:15:40.000Z' },
  {
    streamId: 'laptop-22be',
    deviceId: 'work-laptop',
    weight: 1,
    startedAt: '2026-11-23T10:07:12.500Z',
    expiresAt: '2026-11-23T10:15:42.500Z',
  },
];

function sharedResponses(options: OpenApiOptions): Json {
  return {
    BadRequest: problemResponse(
      '`VALIDATION_ERROR`: the body fails the schema (unknown fields are refused; a body that is not an object has path `""`). `MALFORMED_JSON`: the body is not JSON.',
      ['ValidationProblem', 'Problem'],
      {
        VALIDATION_ERROR: problemExample(new ValidationError([{ path: 'streamID', message: 'unknown field' }])),
        MALFORMED_JSON: problemExample(new MalformedJson()),
      },
    ),
    InvalidPath: problemResponse('`VALIDATION_ERROR`: the path parameter fails the schema.', ['ValidationProblem'], {
      VALIDATION_ERROR: problemExample(
        new ValidationError([
          { path: 'userId', message: 'must start with a letter or digit and contain only A-Z a-z 0-9 . _ : @ + -' },
        ]),
      ),
    }),
    ...(options.authRequired && {
      Unauthenticated: problemResponse(
        '`UNAUTHENTICATED`: the bearer token is missing, malformed, badly signed or expired.',
        ['Problem'],
        { UNAUTHENTICATED: problemExample(new Unauthenticated('The token has expired.', 'invalid_token')) },
        { 'WWW-Authenticate': ref('headers', 'WWWAuthenticate') },
      ),
      Forbidden: problemResponse(
        "`FORBIDDEN`: the token's `sub` is not this `userId`, or the operation needs the `streams:admin` scope.",
        ['Problem'],
        { FORBIDDEN: problemExample(new Forbidden('This token may act only on user ab-12345.')) },
      ),
    }),
    MethodNotAllowed: problemResponse(
      '`METHOD_NOT_ALLOWED`: not an answer of this operation, but of any method this path does not document; `Allow` lists the ones it does.',
      ['Problem'],
      { METHOD_NOT_ALLOWED: problemExample(new MethodNotAllowed('GET', '/streams/add', ['POST', 'OPTIONS'])) },
      { Allow: ref('headers', 'Allow') },
    ),
    PayloadTooLarge: problemResponse(
      `\`PAYLOAD_TOO_LARGE\`: the body is over ${BODY_LIMIT_BYTES / 1024} KiB.`,
      ['Problem'],
      {
        PAYLOAD_TOO_LARGE: problemExample(new PayloadTooLarge(BODY_LIMIT_BYTES)),
      },
    ),
    UnsupportedMediaType: problemResponse(
      '`UNSUPPORTED_MEDIA_TYPE`: the body is not `application/json` (any charset).',
      ['Problem'],
      {
        UNSUPPORTED_MEDIA_TYPE: problemExample(new UnsupportedMediaType()),
      },
    ),
    ...(options.rateLimited && {
      RateLimited: problemResponse(
        '`RATE_LIMITED`: this client sent more than RATE_LIMIT_PER_MINUTE requests in a minute; retry after `Retry-After` seconds.',
        ['Problem'],
        { RATE_LIMITED: problemExample(new RateLimited(12)) },
        { 'Retry-After': ref('headers', 'RetryAfter') },
      ),
    }),
    Internal: problemResponse(
      '`INTERNAL`: an unexpected error (logged with the request id; no internals in the body).',
      ['Problem'],
      {
        INTERNAL: problemExample(new InternalError()),
      },
    ),
    StoreUnavailable: problemResponse(
      '`STORE_UNAVAILABLE`: DynamoDB is unreachable, throttling or too slow; nothing (or possibly the write) happened. Retry the same request, with the same `streamId`, after `Retry-After` seconds.',
      ['Problem'],
      { STORE_UNAVAILABLE: problemExample(new StoreUnavailable('timeout')) },
      { 'Retry-After': ref('headers', 'RetryAfter') },
    ),
  };
}

const jsonBody = (schemaId: string, examples: Record<string, Json>) => ({
  required: true,
  content: { 'application/json': { schema: ref('schemas', schemaId), examples } },
});

type Status = `${number}`;

/** The answers every operation behind the guards shares, in the contract's order of checks. */
function apiFailures(options: OpenApiOptions, body: boolean, pathParam: boolean): Record<Status, Json> {
  return {
    ...((body || pathParam) && { '400': ref('responses', body ? 'BadRequest' : 'InvalidPath') }),
    ...(options.authRequired && { '401': ref('responses', 'Unauthenticated'), '403': ref('responses', 'Forbidden') }),
    '405': ref('responses', 'MethodNotAllowed'),
    ...(body && { '413': ref('responses', 'PayloadTooLarge'), '415': ref('responses', 'UnsupportedMediaType') }),
    ...(options.rateLimited && { '429': ref('responses', 'RateLimited') }),
    '500': ref('responses', 'Internal'),
    '503': ref('responses', 'StoreUnavailable'),
  };
}

function apiOperation(
  options: OpenApiOptions,
  operation: Json & { responses: Json },
  shape: { body: boolean; pathParam: boolean },
): Json {
  return {
    ...operation,
    parameters: [ref('parameters', 'RequestId')],
    security: options.authRequired ? [{ bearerAuth: [] }] : [],
    responses: sortByStatus({ ...operation.responses, ...apiFailures(options, shape.body, shape.pathParam) }),
  };
}

function publicOperation(operation: Json & { responses: Json }): Json {
  return {
    ...operation,
    parameters: [ref('parameters', 'RequestId')],
    // Never authenticated or rate limited: probes, scrapers and readers of the docs.
    security: [],
    responses: sortByStatus({ ...operation.responses, '405': ref('responses', 'MethodNotAllowed') }),
  };
}

function sortByStatus(responses: Json): Json {
  return Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
}

function streamsPaths(options: OpenApiOptions): Record<string, Json> {
  return {
    '/streams/add': {
      post: apiOperation(
        options,
        {
          tags: ['streams'],
          operationId: 'addStream',
          summary: 'Admit a stream (before playback)',
          description:
            'Admits a stream if its `weight` (1 by default) fits in the user\'s free slots, atomically in DynamoDB. Send your own `streamId` so that a retry after a 503 or a lost answer renews the same lease (200) instead of taking a second slot. `replaceStreamId` ends that live stream of the same user and admits this one in the same write ("stop that one and watch here"); its heartbeat then answers 410 naming this stream. Under the `evict-oldest` policy a full user\'s add ends the oldest live stream(s) in the same write and names them in `evicted`. Weight 0 takes no slot (at most 10 such live streams).',
          requestBody: jsonBody('AddStreamRequest', {
            add: {
              summary: 'Add with a player-chosen streamId',
              value: { userId: 'ab-12345', streamId: 'tv-livingroom-7f3a', deviceId: 'living-room-tv' },
            },
            generated: { summary: 'Add; the service generates the streamId', value: { userId: 'ab-12345' } },
            uhd: {
              summary: 'A UHD stream that takes two slots',
              value: { userId: 'ab-12345', streamId: 'tv-uhd-42', weight: 2 },
            },
            replace: {
              summary: 'Stop another stream and watch here',
              value: {
                userId: 'ab-12345',
                streamId: 'tablet-1b2c',
                deviceId: 'kitchen-tablet',
                replaceStreamId: 'tv-livingroom-7f3a',
              },
            },
          }),
          responses: {
            '201': jsonResponse(
              'A new lease: the stream is admitted and its weight counts towards the limit (`evicted` names the streams an evict-oldest add ended; `degraded` marks an unstored lease during a store outage in STORE_FAILURE_MODE=open).',
              'StreamLease',
            ),
            '200': jsonResponse(
              'The stream was already live (a retry): its lease is renewed, no second slot is taken.',
              'StreamLease',
            ),
            '409': problemResponse(
              '`STREAM_LIMIT_REACHED`: the stream does not fit (block-new: its weight is above the free slots; any policy: above the limit, or an 11th weight-0 stream); the live streams are listed in `streams` so a player can offer "stop one of these".',
              ['StreamLimitProblem'],
              { STREAM_LIMIT_REACHED: problemExample(new StreamLimitReached('ab-12345', 3, sampleLive)) },
            ),
          },
        },
        { body: true, pathParam: false },
      ),
    },
    '/streams/heartbeat': {
      post: apiOperation(
        options,
        {
          tags: ['streams'],
          operationId: 'heartbeatStream',
          summary: 'Keep a stream alive (every heartbeatIntervalSeconds)',
          description:
            'Extends a live lease by LEASE_SECONDS. A stream that was removed, replaced or evicted answers 410: the player must stop, not add again.',
          requestBody: jsonBody('HeartbeatRequest', {
            heartbeat: { summary: 'Heartbeat', value: { userId: 'ab-12345', streamId: 'tv-livingroom-7f3a' } },
          }),
          responses: {
            '200': jsonResponse('The lease is extended.', 'StreamLease'),
            '404': problemResponse(
              '`STREAM_NOT_FOUND`: unknown, or the lease expired: the player may add it again.',
              ['StreamNotFoundProblem'],
              {
                STREAM_NOT_FOUND: problemExample(new StreamNotFound('ab-12345', 'tv-livingroom-7f3a')),
              },
            ),
            '410': problemResponse(
              '`STREAM_TERMINATED`: removed (by this or another device), replaced or evicted within the last LEASE_SECONDS; `reason` says which and, when replaced or evicted, `replacedBy` names the new stream. The player must stop and not add it again.',
              ['StreamTerminatedProblem'],
              {
                removed: problemExample(
                  new StreamTerminated('ab-12345', 'tv-livingroom-7f3a', { reason: 'removed' }),
                  'Removed',
                ),
                replaced: problemExample(
                  new StreamTerminated('ab-12345', 'tv-livingroom-7f3a', {
                    reason: 'replaced',
                    replacedBy: { streamId: 'tablet-1b2c', deviceId: 'kitchen-tablet' },
                  }),
                  'Replaced',
                ),
                evicted: problemExample(
                  new StreamTerminated('ab-12345', 'tv-livingroom-7f3a', {
                    reason: 'evicted',
                    replacedBy: { streamId: 'phone-77aa', deviceId: 'phone' },
                  }),
                  'Evicted (evict-oldest)',
                ),
              },
            ),
          },
        },
        { body: true, pathParam: false },
      ),
    },
    '/streams/check': {
      post: apiOperation(
        options,
        {
          tags: ['streams'],
          operationId: 'checkStream',
          summary: 'Would an add be admitted now? (before showing a play button)',
          description:
            "A preflight: one strongly consistent read (two when display data lives outside the user's item), no write, no slot taken. `allowed` says whether an add of `weight` would be admitted now; under `evict-oldest` a full user is allowed and `wouldEvict` names the streams that would go. Same authentication and rate limit as add.",
          requestBody: jsonBody('CheckRequest', {
            check: { summary: 'Check before playback', value: { userId: 'ab-12345' } },
            uhd: { summary: 'Check for a UHD stream', value: { userId: 'ab-12345', weight: 2 } },
          }),
          responses: { '200': jsonResponse('What an add would do now.', 'StreamCheck') },
        },
        { body: true, pathParam: false },
      ),
    },
    '/streams/remove': {
      post: apiOperation(
        options,
        {
          tags: ['streams'],
          operationId: 'removeStream',
          summary: 'Release a stream (when playback ends)',
          description:
            "Ends a live stream; idempotent (`removed: false` when it was not live). Without `streamId` (or with `null`) it releases the user's live stream that expires soonest, as the original counter-style clients expect, and names it; with nothing live the answer is `streamId: null, removed: false`.",
          requestBody: jsonBody('RemoveStreamRequest', {
            named: { summary: 'Remove a named stream', value: { userId: 'ab-12345', streamId: 'tv-livingroom-7f3a' } },
            counter: { summary: 'Counter-style remove', value: { userId: 'ab-12345' } },
          }),
          responses: {
            '200': jsonResponse('The outcome; `removed` is false when there was no such live stream.', 'StreamRemoval'),
          },
        },
        { body: true, pathParam: false },
      ),
    },
  };
}

function usersPaths(options: OpenApiOptions): Record<string, Json> {
  const adminOnly = options.authRequired
    ? ' Needs the `streams:admin` scope.'
    : ' Admin only when AUTH_MODE=jwt (this instance runs without authentication).';
  return {
    '/users/{userId}/streams': {
      parameters: [ref('parameters', 'UserId')],
      get: apiOperation(
        options,
        {
          tags: ['users'],
          operationId: 'listUserStreams',
          summary: "List a user's live streams",
          description:
            'Live leases only, ordered by `startedAt`, with the limit in force. A user with none lists as `activeStreams: 0, streams: []`.',
          responses: { '200': jsonResponse("The user's live streams.", 'UserStreams') },
        },
        { body: false, pathParam: true },
      ),
    },
    '/users/{userId}/limit': {
      parameters: [ref('parameters', 'UserId')],
      put: apiOperation(
        options,
        {
          tags: ['users'],
          operationId: 'setUserLimit',
          summary: "Set a user's limit and admission policy",
          description: `Sets a per-user limit (0–100 slots) and/or admission policy that last until deleted. Lowering a limit never cuts live streams; it blocks new ones until the user is under it.${adminOnly}`,
          requestBody: jsonBody('SetLimitRequest', {
            limit: { summary: 'Allow 5 slots', value: { limit: 5 } },
            policy: { summary: 'End the oldest stream instead of refusing', value: { policy: 'evict-oldest' } },
            both: { summary: 'Both at once', value: { limit: 2, policy: 'evict-oldest' } },
          }),
          responses: { '200': jsonResponse("The user's live streams with the new limit.", 'UserStreams') },
        },
        { body: true, pathParam: true },
      ),
      delete: apiOperation(
        options,
        {
          tags: ['users'],
          operationId: 'clearUserLimit',
          summary: 'Return a user to the default limit and policy',
          description: `Removes the per-user limit and policy: the user is back on STREAM_LIMIT and STREAM_POLICY.${adminOnly}`,
          responses: { '200': jsonResponse("The user's live streams with the default limit.", 'UserStreams') },
        },
        { body: false, pathParam: true },
      ),
    },
  };
}

function operationsPaths(options: OpenApiOptions): Record<string, Json> {
  // /healthz, /readyz and /metrics always answer at the root as well, for load balancers and scrapers.
  const servers = options.basePath
    ? {
        servers: [
          { url: options.basePath, description: 'Under BASE_PATH' },
          { url: '/', description: 'At the root' },
        ],
      }
    : {};
  return {
    '/healthz': {
      ...servers,
      get: publicOperation({
        tags: ['operations'],
        operationId: 'getHealth',
        summary: 'Liveness',
        description: 'Answers 200 while the process runs.',
        responses: { '200': jsonResponse('The process is alive.', 'Health') },
      }),
    },
    '/readyz': {
      ...servers,
      get: publicOperation({
        tags: ['operations'],
        operationId: 'getReadiness',
        summary: 'Readiness',
        description:
          'Answers 200 while the store answers, 503 when it does not or while the instance drains on SIGTERM.',
        responses: {
          '200': jsonResponse('The store answers.', 'Readiness'),
          '503': jsonResponse('The store does not answer, or the instance is shutting down.', 'Readiness'),
        },
      }),
    },
    '/metrics': {
      ...servers,
      get: publicOperation({
        tags: ['operations'],
        operationId: 'getMetrics',
        summary: 'Prometheus metrics',
        description: 'Counters and histograms of this instance in the Prometheus text exposition format.',
        responses: {
          '200': {
            description: 'Prometheus text format (version 0.0.4).',
            headers: requestIdHeader,
            content: {
              'text/plain': {
                schema: { type: 'string' },
                example: '# HELP http_requests_total HTTP requests answered, by route pattern, method and status.\n',
              },
            },
          },
        },
      }),
    },
    '/openapi.json': {
      get: publicOperation({
        tags: ['documentation'],
        operationId: 'getOpenApiDocument',
        summary: 'This document',
        responses: {
          '200': {
            description: 'The OpenAPI 3.1 document.',
            headers: requestIdHeader,
            content: { 'application/json': { schema: { type: 'object' } } },
          },
        },
      }),
    },
    '/docs': {
      get: publicOperation({
        tags: ['documentation'],
        operationId: 'getDocsPage',
        summary: 'This document, rendered',
        description: 'An HTML page rendering this document with Swagger UI, served from this instance (no CDN).',
        responses: {
          '200': {
            description: 'The documentation page.',
            headers: requestIdHeader,
            content: { 'text/html': { schema: { type: 'string' } } },
          },
        },
      }),
    },
    '/demo': {
      get: publicOperation({
        tags: ['documentation'],
        operationId: 'getDemoPage',
        summary: 'A live demo of the limit: Video.js players of one user',
        description:
          'An HTML page (served from this instance, no CDN) where four Video.js players of one user (`?userId=`, else a random one) play a test clip through the videojs-stream-limiter plugin against this API: admission, the 409 dialog with "stop that one and watch here", the replaced player stopped by the event stream or its next heartbeat, lease expiry of a crashed player. The page needs no token; the API calls it makes are authenticated and rate limited like any player\'s.',
        responses: {
          '200': {
            description: 'The demo page.',
            headers: requestIdHeader,
            content: { 'text/html': { schema: { type: 'string' } } },
          },
        },
      }),
    },
  };
}

/**
 * The version in the nearest package.json above this module: the repository's from src/ and dist/,
 * the copy the Lambda build puts in dist/ from its bundle (one file in dist/http/routes), so the
 * answer does not hang on how deep this module sits.
 */
function packageVersion(): string {
  for (let dir = __dirname, level = 0; level < 4; dir = path.dirname(dir), level++) {
    const file = path.join(dir, 'package.json');
    if (!existsSync(file)) continue;
    try {
      return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? '0.0.0';
    } catch {
      return '0.0.0';
    }
  }
  return '0.0.0';
}

const DESCRIPTION = `Limits how many video streams a user may watch at once. A stream is a lease: admitted by \`add\`, kept alive by \`heartbeat\`, ended by \`remove\` or by silence (LEASE_SECONDS). Admission is decided atomically in DynamoDB: under any concurrency, from any number of instances, a user never holds more than \`limit\` live streams, and a retried add never takes two slots.

**Requests.** POST bodies are JSON objects with \`Content-Type: application/json\` (any charset), at most 16 KiB. Unknown fields are refused; \`null\` in an optional field means absent. Checks run in this order and the first that fails answers: route (404 \`NOT_FOUND\`, 405 \`METHOD_NOT_ALLOWED\` with \`Allow\`), rate limit (429), authentication (401), content type (415), size (413), JSON (400 \`MALFORMED_JSON\`), schema (400 \`VALIDATION_ERROR\`), authorization (403). \`OPTIONS\` on any path answers 204 with \`Allow\` (and CORS headers for an allowed origin).

**Answers.** Every answer carries \`X-Request-Id\`. Every error is \`application/problem+json\` (RFC 9457) with a stable \`code\` (see the \`ProblemCode\` schema). Timestamps are ISO 8601 UTC with milliseconds.

**Players** add with their own \`streamId\`, heartbeat every \`heartbeatIntervalSeconds\`, add again on 404, stop for good on 410, retry the same add after 503 or 429, and remove when playback ends.`;

export type OpenApiDocument = Json & { paths: Record<string, Json> };

/** The OpenAPI 3.1 document of an instance with these settings. */
export function buildOpenApiDocument(options: OpenApiOptions): OpenApiDocument {
  return {
    openapi: '3.1.1',
    info: {
      title: 'Stream limiter',
      version: packageVersion(),
      summary: 'Concurrent video-stream limiter: leases in DynamoDB behind a small HTTP API.',
      description: DESCRIPTION,
      license: { name: 'UNLICENSED', identifier: 'LicenseRef-UNLICENSED' },
    },
    servers: [
      {
        url: options.basePath || '/',
        description: options.basePath ? `This service, under BASE_PATH ${options.basePath}` : 'This service',
      },
    ],
    tags: [
      {
        name: 'streams',
        description: "The player's calls: add before playback, heartbeat while playing, remove when done.",
      },
      { name: 'users', description: "A user's live streams and per-user limit." },
      { name: 'operations', description: 'Probes and metrics: never authenticated or rate limited.' },
      { name: 'documentation', description: 'This document and its rendering.' },
    ],
    paths: { ...streamsPaths(options), ...eventsPaths(options), ...usersPaths(options), ...operationsPaths(options) },
    components: {
      schemas: componentSchemas(),
      // Only what this instance can answer: no 401/403 without AUTH_MODE=jwt, no 429 without a rate limit.
      responses: sharedResponses(options),
      parameters: {
        UserId: {
          name: 'userId',
          in: 'path',
          required: true,
          description: 'The user.',
          schema: inlineSchema(userIdSchema),
        },
        RequestId: {
          name: 'X-Request-Id',
          in: 'header',
          required: false,
          description:
            'Echoed back when it is 1–128 characters from `A-Z a-z 0-9 . _ : -`; otherwise the service makes one.',
          schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
        },
      },
      headers: {
        XRequestId: {
          description:
            "The request's own `X-Request-Id` if well formed, else a generated one; it is in the service's log line.",
          schema: { type: 'string' },
        },
        RetryAfter: { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 } },
        Allow: { description: 'The methods this path answers.', schema: { type: 'string' }, example: 'POST, OPTIONS' },
        ...(options.authRequired && {
          WWWAuthenticate: {
            description: 'The Bearer challenge (RFC 6750).',
            schema: { type: 'string' },
            example: 'Bearer realm="stream-limiter", error="invalid_token"',
          },
        }),
      },
      ...(options.authRequired && {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description:
              'HS256 (AUTH_JWT_SECRET) or RS256/ES256 from AUTH_JWKS_URL; `exp`, and `iss`/`aud` when configured, are checked. `sub` is the only userId the caller may act on; scope `streams:admin` may act on any user and set limits.',
          },
        },
      }),
    },
  };
}
