import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoServiceError, DynamoTimeout, DynamoWire } from '../../../src/store/dynamo-wire';

/** A stand-in DynamoDB on 127.0.0.1 that answers each request with the next scripted reply. */
async function fakeDynamo(replies: Array<(res: http.ServerResponse) => void>) {
  const seen: Array<{ target: string; authorization: string; body: string }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      seen.push({
        target: String(req.headers['x-amz-target']),
        authorization: String(req.headers.authorization),
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

const json = (status: number, body: unknown) => (res: http.ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
  res.end(JSON.stringify(body));
};
const dynamoError = (status: number, type: string, extra: object = {}) =>
  json(status, { __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: `${type} (fake)`, ...extra });

describe('DynamoWire', () => {
  let fake: Awaited<ReturnType<typeof fakeDynamo>> | undefined;
  let wire: DynamoWire | undefined;
  const credentials = jest.fn(async () => ({ accessKeyId: 'AKID', secretAccessKey: 'secret' }));
  const connect = (endpoint: URL) => (wire = new DynamoWire({ endpoint, region: 'us-east-1', credentials }));

  afterEach(async () => {
    wire?.destroy();
    await fake?.close();
    credentials.mockClear();
  });

  it('posts the operation, signed, and resolves with the answer', async () => {
    fake = await fakeDynamo([json(200, { Attributes: { cnt: { N: '1' } } })]);
    const answer = await connect(fake.endpoint).call('UpdateItem', { TableName: 't' }, Date.now() + 1000);

    expect(answer).toEqual({ Attributes: { cnt: { N: '1' } } });
    expect(fake.seen).toEqual([
      {
        target: 'DynamoDB_20120810.UpdateItem',
        authorization: expect.stringMatching(/^AWS4-HMAC-SHA256 Credential=AKID\//),
        body: '{"TableName":"t"}',
      },
    ]);
  });

  it('retries a 5xx and a throttle, as the SDK does, and answers from the try that worked', async () => {
    fake = await fakeDynamo([
      dynamoError(500, 'InternalServerError'),
      dynamoError(400, 'ThrottlingException'),
      json(200, {}),
    ]);
    await expect(connect(fake.endpoint).call('GetItem', {}, Date.now() + 2000)).resolves.toEqual({});
    expect(fake.seen).toHaveLength(3);
  });

  it('gives up after three tries with the last error, named by its DynamoDB type', async () => {
    fake = await fakeDynamo([dynamoError(400, 'ProvisionedThroughputExceededException')]);
    const failure = connect(fake.endpoint).call('UpdateItem', {}, Date.now() + 2000);

    await expect(failure).rejects.toBeInstanceOf(DynamoServiceError);
    await expect(failure).rejects.toMatchObject({
      name: 'ProvisionedThroughputExceededException',
      $metadata: { httpStatusCode: 400 },
    });
    expect(fake.seen).toHaveLength(3);
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
    wire = new DynamoWire({ endpoint, region: 'us-east-1', credentials });

    await expect(wire.call('GetItem', {}, Date.now() + 1000)).rejects.toThrow('no region rules');
    await expect(wire.call('GetItem', {}, Date.now() + 1000)).resolves.toEqual({});
    expect(endpoint).toHaveBeenCalledTimes(2);
  });

  it('reuses credentials until five minutes before they expire, then asks the provider again', async () => {
    fake = await fakeDynamo([json(200, {})]);
    const expiringIn = (ms: number) => async () => ({
      accessKeyId: 'ASIA',
      secretAccessKey: 's',
      sessionToken: 't',
      expiration: new Date(Date.now() + ms),
    });
    const client = connect(fake.endpoint);

    credentials.mockImplementation(expiringIn(60_000));
    await client.call('GetItem', {}, Date.now() + 1000);
    await client.call('GetItem', {}, Date.now() + 1000);
    expect(credentials).toHaveBeenCalledTimes(2); // each time: the ones held expire within five minutes

    credentials.mockImplementation(expiringIn(3_600_000));
    await client.call('GetItem', {}, Date.now() + 1000);
    await client.call('GetItem', {}, Date.now() + 1000);
    await client.call('GetItem', {}, Date.now() + 1000);
    expect(credentials).toHaveBeenCalledTimes(3); // fetched once more, then reused
  });
});
