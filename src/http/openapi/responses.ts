import {
  ApiError,
  Forbidden,
  InternalError,
  MalformedJson,
  MethodNotAllowed,
  RateLimited,
  StoreUnavailable,
  Unauthenticated,
  UnsupportedMediaType,
  ValidationError,
  PayloadTooLarge,
} from '../../errors';
import { BODY_LIMIT_BYTES, problemBody } from '../problem';
import { ref, type Json } from './json';
import type { OpenApiOptions } from './options';

/** The body problem.ts writes for this error, as an example. */
export function problemExample(error: ApiError, summary = error.title): Json {
  return { summary, value: problemBody(error) };
}

export const requestIdHeader = { 'X-Request-Id': ref('headers', 'XRequestId') };

export function problemResponse(
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

export function jsonResponse(description: string, schemaId: string, headers: Json = {}): Json {
  return {
    description,
    headers: { ...requestIdHeader, ...headers },
    content: { 'application/json': { schema: ref('schemas', schemaId) } },
  };
}

export function sharedResponses(options: OpenApiOptions): Json {
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
