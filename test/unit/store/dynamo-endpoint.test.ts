import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { itemEndpoint } from '../../../src/store/dynamo-endpoint';
import { LeaseStore } from '../../../src/store/lease-store';
import { leasePolicy } from '../../../src/leases/policy';

const ENV = ['AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'] as const;

describe('itemEndpoint and the store', () => {
  const saved = Object.fromEntries(ENV.map((name) => [name, process.env[name]]));
  let client: DynamoDBClient | undefined;

  afterEach(() => {
    client?.destroy();
    for (const name of ENV) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  });

  it('is AWS_ENDPOINT_URL_DYNAMODB when no endpoint is configured', async () => {
    process.env.AWS_ENDPOINT_URL_DYNAMODB = 'http://127.0.0.1:4566';
    client = new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 's' } });

    expect((await itemEndpoint(client, 'leases')).href).toBe('http://127.0.0.1:4566/');
  });

  it('is the configured endpoint, whatever the environment says', async () => {
    process.env.AWS_ENDPOINT_URL_DYNAMODB = 'http://127.0.0.1:4566';
    client = new DynamoDBClient({
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:8000',
      credentials: { accessKeyId: 'a', secretAccessKey: 's' },
    });

    expect((await itemEndpoint(client, 'leases')).href).toBe('http://127.0.0.1:8000/');
  });

  it('is the account-based endpoint when the credentials name their account', async () => {
    client = new DynamoDBClient({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 's', accountId: '123456789012' },
    });

    expect((await itemEndpoint(client, 'leases')).href).toBe('https://123456789012.ddb.eu-west-1.amazonaws.com/');
  });

  it('is the regional endpoint otherwise', async () => {
    client = new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 's' } });

    expect((await itemEndpoint(client, 'leases')).href).toBe('https://dynamodb.eu-west-1.amazonaws.com/');
  });

  it('sends the store item calls to AWS_ENDPOINT_URL_DYNAMODB when the endpoint is "aws"', async () => {
    const targets: string[] = [];
    const server = http.createServer((req, res) => {
      targets.push(String(req.headers['x-amz-target']));
      req.resume().on('end', () => res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{}'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    process.env.AWS_ENDPOINT_URL_DYNAMODB = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.AWS_ACCESS_KEY_ID = 'AKIDTEST';
    process.env.AWS_SECRET_ACCESS_KEY = 'secret';
    const store = new LeaseStore({
      endpoint: { kind: 'aws' },
      region: 'eu-west-1',
      table: 'leases',
      timeoutMs: 1000,
      policy: leasePolicy({ streamLimit: 3, streamPolicy: 'block-new', leaseSeconds: 90, leaseMaxSeconds: 90 }),
    });
    try {
      await store.ping();
    } finally {
      store.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }

    expect(targets).toEqual(['DynamoDB_20120810.GetItem']);
  });
});
