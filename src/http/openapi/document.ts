import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { documentComponents } from './components';
import type { Json } from './json';
import type { OpenApiOptions } from './options';
import { docsPaths } from './paths/docs';
import { eventsPaths } from './paths/events';
import { operationsPaths } from './paths/operations';
import { streamsPaths } from './paths/streams';
import { usersPaths } from './paths/users';

/*
 * The OpenAPI 3.1 document, generated from the zod schemas the routes
 * validate with (src/http/schemas.ts) and the response schemas
 * (src/http/response-schemas.ts): there is no hand-kept copy of a body to
 * drift. What is written in this folder is the part zod cannot know: which
 * path answers which status with which code (paths/, one file per route
 * module; responses.ts for the answers they share). test/integration/openapi.test.ts
 * holds it to the router (every route documented, nothing else) and to real
 * answers.
 */

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
    paths: {
      ...streamsPaths(options),
      ...eventsPaths(options),
      ...usersPaths(options),
      ...operationsPaths(options),
      ...docsPaths(),
    },
    components: documentComponents(options),
  };
}
