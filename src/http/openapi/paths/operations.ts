import type { Json } from '../json';
import type { OpenApiOptions } from '../options';
import { publicOperation } from '../operations';
import { jsonResponse, requestIdHeader } from '../responses';

export function operationsPaths(options: OpenApiOptions): Record<string, Json> {
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
  };
}
