import { StreamLimitReached, StreamNotFound, StreamTerminated } from '../../../errors';
import type { Json } from '../json';
import type { OpenApiOptions } from '../options';
import { apiOperation, jsonBody } from '../operations';
import { jsonResponse, problemExample, problemResponse } from '../responses';

/** The live streams a 409 lists, in the example. */
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

export function streamsPaths(options: OpenApiOptions): Record<string, Json> {
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
