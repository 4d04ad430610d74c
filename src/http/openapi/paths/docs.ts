import type { Json } from '../json';
import { publicOperation } from '../operations';
import { requestIdHeader } from '../responses';

/** The documentation's own paths: this document, its rendering and the demo page (never behind the guards). */
export function docsPaths(): Record<string, Json> {
  return {
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
