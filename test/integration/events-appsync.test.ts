import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListStreamsCommand,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import pino from 'pino';
import request from 'supertest';
import { loadConfig } from '../../src/config';
import { createFanoutHandler } from '../../src/events/fanout-handler';
import { createTerminationFeed } from '../../src/events/feed-for-config';
import type { TerminationFeed } from '../../src/events/termination-feed';
import { createHttpServer } from '../../src/http/server';
import { AppSyncEventsStandIn } from '../helpers/appsync-events-standin';
import { openEvents, parseEvents } from '../helpers/event-stream';
import { streamTable } from '../helpers/stream-table';
import { createTestApp, testEndpoint, uniqueId, type TestApp } from '../helpers/test-app';

/*
 * The fleet's path, end to end, with AWS replaced by stand-ins only where it must be: a kick on the
 * API writes the table; its stream's records (read with GetRecords, as the event source mapping
 * does) go to the fan-out Lambda's handler, which publishes them signed to the stand-in Event API;
 * the service's own STREAM_EVENTS=appsync feed (built by createTerminationFeed from config, with
 * the default credential chain) hears them over the WebSocket and ends the player's event stream.
 */

// Node 22 (the supported floor) has a global WebSocket; Node 20 only with --experimental-websocket
// (npm test and npm run test:integration pass it); a bare `npx jest` on Node 20 skips these.
const describeWithWebSocket = typeof globalThis.WebSocket === 'function' ? describe : describe.skip;

const silent = pino({ level: 'silent' });
const REGION = 'us-east-1';
const TASK_ROLE = {
  accessKeyId: 'ASIATASKROLE00000000',
  secretAccessKey: 'task-role-secret-access-key-0000000000000',
  sessionToken: 'task-role-session-token',
};
const PUBLISHER_ROLE = TASK_ROLE;

/** Every record of the table's stream so far, as a Lambda event source mapping would hand them over. */
async function streamRecords(table: string): Promise<DynamoDBStreamEvent> {
  const client = new DynamoDBStreamsClient({
    endpoint: testEndpoint(),
    region: REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const { Streams = [] } = await client.send(new ListStreamsCommand({ TableName: table }));
    const { StreamDescription } = await client.send(new DescribeStreamCommand({ StreamArn: Streams[0]?.StreamArn }));
    const records: unknown[] = [];
    for (const shard of StreamDescription?.Shards ?? []) {
      let { ShardIterator } = await client.send(
        new GetShardIteratorCommand({
          StreamArn: Streams[0]?.StreamArn,
          ShardId: shard.ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      while (ShardIterator) {
        const page = await client.send(new GetRecordsCommand({ ShardIterator }));
        records.push(...(page.Records ?? []));
        if (!page.Records?.length) break;
        ShardIterator = page.NextShardIterator;
      }
    }
    return { Records: records } as DynamoDBStreamEvent;
  } finally {
    client.destroy();
  }
}

function terminatedEvents(text: string): unknown[] {
  return parseEvents(text)
    .filter(({ event }) => event === 'terminated')
    .map(({ data }) => data);
}

describeWithWebSocket('pushed evictions through the fleet fan-out (STREAM_EVENTS=appsync)', () => {
  let standIn: AppSyncEventsStandIn;
  let table: string;
  let feed: TerminationFeed;
  let app: TestApp;
  let server: http.Server;
  let url: string;

  beforeAll(async () => {
    standIn = await AppSyncEventsStandIn.start({ credentials: TASK_ROLE, region: REGION });
    // The task's credentials come from the default chain, as in ECS; here from the environment.
    process.env.AWS_ACCESS_KEY_ID = TASK_ROLE.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = TASK_ROLE.secretAccessKey;
    process.env.AWS_SESSION_TOKEN = TASK_ROLE.sessionToken;
    table = await streamTable('eva');
    const config = loadConfig({
      DYNAMODB_ENDPOINT: testEndpoint(),
      DYNAMODB_TABLE: table,
      AWS_REGION: REGION,
      STREAM_EVENTS: 'appsync',
      STREAM_EVENTS_URL: standIn.realtimeUrl.href,
    });
    const made: { app?: TestApp } = {};
    feed = createTerminationFeed(
      config,
      testEndpoint(),
      { readUser: (userId, now) => made.app!.store.readUser(userId, now) },
      silent,
    )!;
    app = made.app = await createTestApp({}, { table, deps: { streamEvents: { feed } } });
    await feed.start();
    server = createHttpServer(app.app, {});
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await feed?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    app?.close();
    await standIn?.stop();
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    delete process.env.AWS_SESSION_TOKEN;
  });

  it('a replace and a remove reach the players as `terminated`, through the publisher, the Event API and the subscriber', async () => {
    const userId = uniqueId();
    const add = (body: Record<string, unknown>) =>
      request(app.app)
        .post('/streams/add')
        .send({ userId, ...body })
        .expect((res) => expect([200, 201]).toContain(res.status));
    await add({ streamId: 'phone' });
    await add({ streamId: 'tv' });
    const phone = await openEvents(url, { userId, streamId: 'phone' });
    const tv = await openEvents(url, { userId, streamId: 'tv' });
    expect([phone.status, tv.status]).toEqual([200, 200]);

    // A device id too long for the user's item lives in a display item: the feed reads it back.
    const deviceId = `d-${'x'.repeat(100)}`;
    await add({ streamId: 'tablet', deviceId, replaceStreamId: 'tv' });
    await request(app.app).post('/streams/remove').send({ userId, streamId: 'phone' }).expect(200);

    const publish = createFanoutHandler({
      endpoint: standIn.httpUrl,
      region: REGION,
      credentials: () => Promise.resolve(PUBLISHER_ROLE),
    });
    expect(await publish(await streamRecords(table))).toEqual({ published: 2 });

    expect(terminatedEvents(await tv.ended)).toEqual([
      { userId, streamId: 'tv', reason: 'replaced', replacedBy: { streamId: 'tablet', deviceId } },
    ]);
    expect(terminatedEvents(await phone.ended)).toEqual([{ userId, streamId: 'phone', reason: 'removed' }]);
    expect(standIn.refusals).toEqual([]);
    expect(standIn.subscribed).toHaveLength(1);
  });

  it('refuses to start the feed without STREAM_EVENTS_URL', () => {
    expect(() =>
      loadConfig({ DYNAMODB_ENDPOINT: 'aws', AWS_REGION: REGION, AUTH_MODE: 'none', STREAM_EVENTS: 'appsync' }),
    ).toThrow(/STREAM_EVENTS_URL must be a wss: URL/);
    expect(() =>
      loadConfig({
        DYNAMODB_ENDPOINT: 'aws',
        AWS_REGION: REGION,
        AUTH_MODE: 'none',
        STREAM_EVENTS: 'appsync',
        STREAM_EVENTS_URL: 'ws://events.example.com/event/realtime',
      }),
    ).toThrow(/STREAM_EVENTS_URL/);
  });
});
