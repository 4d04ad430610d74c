import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoServiceError, DynamoTimeout, DynamoWire } from '../../../src/store/dynamo-wire';

interface Seen {
  readonly target: string;
  readonly authorization: string;
  readonly amzDate: string;
  readonly token: string | undefined;
  readonly body: string;
}

/** A stand-in DynamoDB on 127.0.0.1 that answers each request with the next scripted reply. */
async function fakeDynamo(replies: Array<(res: http.ServerResponse) => void>) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({
        target: String(req.headers['x-amz-target']),
        authorization: String(req.headers.authorization),
        amzDate: String(req.headers['x-amz-date']),
        token: req.headers['x-amz-security-token'] as string | undefined,
        body: Buffer.concat(chunks).toString(),
      });
      const reply = replies[Math.min(seen.length - 1, replies.length - 1)]!;
      reply(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return {
    endpoint,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  (res: http.ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', ...headers });
    res.end(JSON.stringify(body));
  };
const dynamoError = (status: number, type: string, extra: object = {}, headers: Record<string, string> = {}) =>
  json(status, { __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: `${type} (fake)`, ...extra }, headers);

/** X-Amz-Date (20261123T212000Z) as epoch ms. */
const amzDateMs = (amzDate: string) =>
  Date.parse(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));

describe('DynamoWire', () => {
  let fake: Awaited<ReturnType<typeof fakeDynamo>> | undefined;
  let wire: DynamoWire | undefined;
  const credentials = jest.fn(async () => ({ accessKeyId: 'AKID', secretAccessKey: 'secret' }));
  const connect = (endpoint: URL, maxAttempts?: number) =>
    (wire = new DynamoWire({ endpoint, region: 'us-east-1', credentials, ...(maxAttempts && { maxAttempts }) }));

  afterEach(async () => {
    wire?.destroy();
    await fake?.close();
    credentials.mockClear();
  });

  it('posts the operation, signed with SigV4 for dynamodb, and resolves with the answer', async () => {
    fake = await fakeDynamo([json(200, { Attributes: { cnt: { N: '1' } } })]);
    const answer = await connect(fake.endpoint).call('UpdateItem', { TableName: 't' }, Date.now() + 1000);

    expect(answer).toEqual({ Attributes: { cnt: { N: '1' } } });
    expect(fake.seen).toEqual([
      {
        target: 'DynamoDB_20120810.UpdateItem',
        authorization: expect.stringMatching(
          /^AWS4-HMAC-SHA256 Credential=AKID\/\d{8}\/us-east-1\/dynamodb\/aws4_request, SignedHeaders=.*host.*x-amz-target.*, Signature=[0-9a-f]{64}$/,
        ),
        amzDate: expect.stringMatching(/^\d{8}T\d{6}Z$/),
        token: undefined,
        body: '{"TableName":"t"}',
      },
    ]);
  });

  it('retries a 5xx and a throttle, and answers from the try that worked', async () => {
    fake = await fakeDynamo([
      dynamoError(500, 'InternalServerError'),
      dynamoError(400, 'ThrottlingException'),
      json(200, {}),
    ]);
    await expect(connect(fake.endpoint).call('GetItem', {}, Date.now() + 4000)).resolves.toEqual({});
    expect(fake.seen).toHaveLength(3);
  });

  it('gives up after three tries with the last error, named by its DynamoDB type', async () => {
    fake = await fakeDynamo([dynamoError(500, 'InternalServerError')]);
    const failure = connect(fake.endpoint).call('UpdateItem', {}, Date.now() + 4000);

    await expect(failure).rejects.toBeInstanceOf(DynamoServiceError);
    await expect(failure).rejects.toMatchObject({ name: 'InternalServerError', $metadata: { httpStatusCode: 500 } });
    expect(fake.seen).toHaveLength(3);
  });

  it('gives up on a throttle within the deadline, with the throttle as the reason', async () => {
    fake = await fakeDynamo([dynamoError(400, 'ProvisionedThroughputExceededException')]);
    const started = Date.now();
    const failure = await connect(fake.endpoint, 10)
      .call('UpdateItem', {}, started + 300)
      .catch((error: unknown) => error);

    expect(failure).toMatchObject({
      name: 'ProvisionedThroughputExceededException',
      $metadata: { httpStatusCode: 400 },
    });
    expect(Date.now() - started).toBeLessThan(600);
    // Throttling backs off from 1 s, not from the 50 ms of other faults (about six tries in 300 ms).
    expect(fake.seen.length).toBeLessThanOrEqual(3);
  });

  it('stops retrying when the retry quota shared by all calls is spent', async () => {
    fake = await fakeDynamo([dynamoError(503, 'ServiceUnavailable')]);
    const client = connect(fake.endpoint);
    const calls = 40;
    const failures = await Promise.all(
      Array.from({ length: calls }, () =>
        client.call('GetItem', {}, Date.now() + 4000).catch((error: unknown) => error),
      ),
    );

    expect(failures.every((error) => (error as Error).name === 'ServiceUnavailable')).toBe(true);
    // 500 tokens at 14 a retry: about 35 retries for all, not 2 for each of the 40 calls.
    expect(fake.seen.length - calls).toBeLessThanOrEqual(36);
  });

  it('does not retry a failed condition, and hands back the item DynamoDB returned with it', async () => {
    fake = await fakeDynamo([dynamoError(400, 'ConditionalCheckFailedException', { Item: { ver: { N: '7' } } })]);
    const failure = await connect(fake.endpoint)
      .call('UpdateItem', {}, Date.now() + 2000)
      .catch((error: unknown) => error);

    expect(failure).toMatchObject({ name: 'ConditionalCheckFailedException', answer: { Item: { ver: { N: '7' } } } });
    expect(fake.seen).toHaveLength(1);
  });

  it('rejects with a timeout at the deadline when the store does not answer, without retrying', async () => {
    fake = await fakeDynamo([() => undefined]);
    const started = Date.now();
    const failure = await connect(fake.endpoint)
      .call('UpdateItem', {}, started + 200)
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(DynamoTimeout);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(fake.seen).toHaveLength(1);
  });

  it('retries a refused connection, then rejects with the socket error', async () => {
    fake = await fakeDynamo([json(200, {})]);
    const endpoint = fake.endpoint;
    await fake.close();
    fake = undefined;

    await expect(connect(endpoint).call('GetItem', {}, Date.now() + 2000)).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('turns an answer that is not DynamoDB JSON (a balancer page) into an error carrying its status', async () => {
    fake = await fakeDynamo([(res) => res.writeHead(403, { 'content-type': 'text/html' }).end('<html>denied</html>')]);
    await expect(connect(fake.endpoint).call('GetItem', {}, Date.now() + 1000)).rejects.toMatchObject({
      name: 'HTTP403',
      $metadata: { httpStatusCode: 403 },
      message: '<html>denied</html>',
    });
  });

  it('finds a lazily given endpoint on first use, once, even for calls that arrive together', async () => {
    fake = await fakeDynamo([json(200, {})]);
    const endpoint = jest.fn(async () => fake!.endpoint);
    wire = new DynamoWire({ endpoint, region: 'us-east-1', credentials });
    await Promise.all([wire.call('GetItem', {}, Date.now() + 1000), wire.call('GetItem', {}, Date.now() + 1000)]);
    await wire.call('GetItem', {}, Date.now() + 1000);

    expect(endpoint).toHaveBeenCalledTimes(1);
    expect(fake.seen).toHaveLength(3);
  });

  it('tries the endpoint again on the next call when finding it failed', async () => {
    fake = await fakeDynamo([json(200, {})]);
    const endpoint = jest.fn().mockRejectedValueOnce(new Error('no region rules')).mockResolvedValue(fake.endpoint);
    wire = new DynamoWire({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });

    await expect(wire.call('GetItem', {}, Date.now() + 1000)).rejects.toThrow('no region rules');
    await expect(wire.call('GetItem', {}, Date.now() + 1000)).resolves.toEqual({});
    expect(endpoint).toHaveBeenCalledTimes(2);
  });

  describe('with a task role (temporary credentials through the SDK client)', () => {
    let sdk: DynamoDBClient | undefined;
    afterEach(() => sdk?.destroy());

    it('signs with the session token, and with refreshed credentials before the held ones expire', async () => {
      fake = await fakeDynamo([json(200, {})]);
      const issuedAt = Date.now();
      const issued = [
        {
          accessKeyId: 'ASIAFIRST',
          secretAccessKey: 's1',
          sessionToken: 'token-1',
          expiration: new Date(issuedAt + 6 * 60_000),
        },
        {
          accessKeyId: 'ASIASECOND',
          secretAccessKey: 's2',
          sessionToken: 'token-2',
          expiration: new Date(issuedAt + 60 * 60_000),
        },
      ];
      let fetches = 0;
      const provider = jest.fn(async () => issued[Math.min(fetches++, 1)]!);
      sdk = new DynamoDBClient({ region: 'us-east-1', credentials: provider });
      wire = new DynamoWire({
        endpoint: fake.endpoint,
        region: 'us-east-1',
        credentials: () => sdk!.config.credentials(),
      });

      await wire.call('GetItem', {}, Date.now() + 1000);
      await wire.call('GetItem', {}, Date.now() + 1000);
      // Two minutes on, four are left: inside the SDK's five-minute window, so it fetches new ones before they expire.
      const now = jest.spyOn(Date, 'now').mockImplementation(() => new Date().getTime() + 2 * 60_000);
      try {
        await wire.call('GetItem', {}, Date.now() + 1000);
        await wire.call('GetItem', {}, Date.now() + 1000);
      } finally {
        now.mockRestore();
      }

      expect(
        fake.seen.map(({ authorization, token }) => [/Credential=(\w+)\//.exec(authorization)?.[1], token]),
      ).toEqual([
        ['ASIAFIRST', 'token-1'],
        ['ASIAFIRST', 'token-1'],
        ['ASIASECOND', 'token-2'],
        ['ASIASECOND', 'token-2'],
      ]);
      expect(provider).toHaveBeenCalledTimes(2);
    });
  });

  it.each([
    ['InvalidSignatureException', 'Signature expired: 20261201T120000Z is now earlier than 20261201T121000Z'],
    ['RequestTimeTooSkewed', 'The difference between the request time and the server time is too large'],
  ])('corrects its clock from the Date of a %s answer and retries with the corrected time', async (type, message) => {
    const skewMs = 15 * 60_000;
    const serverDate = () => new Date(Date.now() + skewMs).toUTCString();
    fake = await fakeDynamo([
      (res) => dynamoError(400, type, { message }, { date: serverDate() })(res),
      (res) => json(200, {}, { date: serverDate() })(res),
    ]);
    const client = connect(fake.endpoint);

    await expect(client.call('GetItem', {}, Date.now() + 2000)).resolves.toEqual({});
    await client.call('GetItem', {}, Date.now() + 2000);

    expect(fake.seen).toHaveLength(3);
    const [first, retried, later] = fake.seen.map(({ amzDate }) => amzDateMs(amzDate) - Date.now());
    expect(Math.abs(first!)).toBeLessThan(5_000);
    expect(Math.abs(retried! - skewMs)).toBeLessThan(5_000);
    expect(Math.abs(later! - skewMs)).toBeLessThan(5_000);
  });

  describe('against DynamoDB Local', () => {
    const endpoint = () => new URL(process.env.TEST_DYNAMODB_ENDPOINT!);
    const table = `wire-${randomUUID().slice(0, 8)}`;
    const local = { accessKeyId: 'local', secretAccessKey: 'local' };

    beforeAll(async () => {
      const sdk = new DynamoDBClient({ region: 'us-east-1', endpoint: endpoint().href, credentials: local });
      await sdk.send(
        new CreateTableCommand({
          TableName: table,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'userId', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }],
        }),
      );
      sdk.destroy();
    });

    it('writes, and on a failed condition hands back the stored item (ALL_OLD)', async () => {
      const client = (wire = new DynamoWire({
        endpoint: endpoint(),
        region: 'us-east-1',
        credentials: async () => local,
      }));
      const update = {
        TableName: table,
        Key: { userId: { S: 'u1' } },
        UpdateExpression: 'SET ver = :one',
        ConditionExpression: 'attribute_not_exists(userId)',
        ExpressionAttributeValues: { ':one': { N: '1' } },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      };

      await expect(client.call('UpdateItem', update, Date.now() + 2000)).resolves.toEqual({
        Attributes: { userId: { S: 'u1' }, ver: { N: '1' } },
      });
      const failure = await client.call('UpdateItem', update, Date.now() + 2000).catch((error: unknown) => error);

      expect(failure).toBeInstanceOf(DynamoServiceError);
      expect(failure).toMatchObject({
        name: 'ConditionalCheckFailedException',
        answer: { Item: { userId: { S: 'u1' }, ver: { N: '1' } } },
      });
    });

    it('names an item over 400 KB a ValidationException about the item size', async () => {
      const client = (wire = new DynamoWire({
        endpoint: endpoint(),
        region: 'us-east-1',
        credentials: async () => local,
      }));
      const put = {
        TableName: table,
        Key: { userId: { S: 'big' } },
        UpdateExpression: 'SET m = :m',
        ExpressionAttributeValues: { ':m': { S: 'x'.repeat(410_000) } },
      };

      await expect(client.call('UpdateItem', put, Date.now() + 2000)).rejects.toMatchObject({
        name: 'ValidationException',
        message: expect.stringMatching(/item size/i),
      });
    });
  });
});
