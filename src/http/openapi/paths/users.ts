import { ref, type Json } from '../json';
import type { OpenApiOptions } from '../options';
import { apiOperation, jsonBody } from '../operations';
import { jsonResponse } from '../responses';

export function usersPaths(options: OpenApiOptions): Record<string, Json> {
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
