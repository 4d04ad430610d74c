import { userIdSchema } from '../schemas';
import { componentSchemas, inlineSchema } from './component-schemas';
import type { Json } from './json';
import type { OpenApiOptions } from './options';
import { sharedResponses } from './responses';

/** The document's components: what the paths refer to. */
export function documentComponents(options: OpenApiOptions): Json {
  return {
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
  };
}
