import { ref, type Json } from './json';
import type { OpenApiOptions } from './options';

export const jsonBody = (schemaId: string, examples: Record<string, Json>) => ({
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

export function apiOperation(
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

export function publicOperation(operation: Json & { responses: Json }): Json {
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
