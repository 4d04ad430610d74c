/*
 * Write cost per request, as DynamoDB measures it: the service asks for ReturnConsumedCapacity on
 * every write and counts the units in stream_limiter_dynamodb_write_units_total, which this part
 * reads from /metrics around each request. Item bytes are computed from the stored item by
 * DynamoDB's published sizing rules, for the reader; the units are the measurement.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';

export interface WriteCostUser {
  readonly user: string;
  readonly itemBytes: number;
  /** Write units of each request kind, as DynamoDB reported them. */
  readonly heartbeat: number[];
  readonly remove: number;
  readonly add: number;
}

export interface WriteCostRecord {
  readonly users: WriteCostUser[];
}

type Post = (path: string, body: object) => Promise<{ status: number }>;

/** DynamoDB's item size: names and values in UTF-8, numbers ~1 byte per 2 digits + 1, 3 bytes per list/map plus 1 per element. */
export function attributeValueBytes(value: AttributeValue): number {
  if (value.S !== undefined) return Buffer.byteLength(value.S);
  if (value.N !== undefined) return Math.ceil(value.N.replace(/^-|\.|^0+/g, '').length / 2) + 1;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.L !== undefined) return 3 + value.L.reduce((sum, element) => sum + 1 + attributeValueBytes(element), 0);
  if (value.M !== undefined)
    return (
      3 +
      Object.entries(value.M).reduce(
        (sum, [name, element]) => sum + 1 + Buffer.byteLength(name) + attributeValueBytes(element),
        0,
      )
    );
  return 0;
}

export function itemBytes(item: Record<string, AttributeValue>): number {
  return Object.entries(item).reduce(
    (sum, [name, value]) => sum + Buffer.byteLength(name) + attributeValueBytes(value),
    0,
  );
}

const id = (prefix: string, length: number) =>
  `${prefix}${'x'.repeat(length - prefix.length - 6)}${randomUUID().slice(0, 6)}`;

function worstMetadata(): Record<string, string> {
  const metadata: Record<string, string> = {};
  let bytes = 0;
  for (let i = 0; i < 10; i++) {
    const key = `k${i}${'k'.repeat(62)}`;
    const room = Math.min(1024, 2048 - bytes - key.length);
    if (room < 4) break;
    metadata[key] = '😀'.repeat(Math.floor(room / 4));
    bytes += key.length + Buffer.byteLength(metadata[key]!);
  }
  return metadata;
}

/**
 * The worst valid user at the default limit (128-character userId, 64-character stream ids,
 * 128-character deviceIds, 2,048 bytes of four-byte metadata, more replaces and removes within a
 * lease than the item remembers) and a typical one (UUIDs, a short device name and a title).
 */
export async function measureWriteCost(
  serviceUrl: string,
  dynamoEndpoint: string,
  table: string,
): Promise<WriteCostRecord> {
  const post: Post = async (path, body) => {
    const response = await fetch(`${serviceUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    await response.arrayBuffer();
    return { status: response.status };
  };
  const units = async (): Promise<number> => {
    const text = await (await fetch(`${serviceUrl}/metrics`)).text();
    return [...text.matchAll(/^stream_limiter_dynamodb_write_units_total\{operation="UpdateItem"\} (\S+)$/gm)].reduce(
      (sum, match) => sum + Number(match[1]),
      0,
    );
  };
  const unitsOf = async (path: string, body: object, expected: number): Promise<number> => {
    const before = await units();
    const { status } = await post(path, body);
    if (status !== expected) throw new Error(`write cost: ${path} answered ${status}, expected ${expected}`);
    return round((await units()) - before);
  };
  const client = new DynamoDBClient({
    endpoint: dynamoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const measureUser = async (
      user: string,
      userId: string,
      display: () => object,
      streamId: (i: number) => string,
      replaces: number,
    ): Promise<WriteCostUser> => {
      const live = [streamId(0), streamId(1), streamId(2)];
      for (const s of live) await post('/streams/add', { userId, streamId: s, ...display() });
      for (let i = 0; i < replaces; i++) {
        const next = streamId(10 + i);
        await post('/streams/add', { userId, streamId: next, replaceStreamId: live.shift(), ...display() });
        live.push(next);
      }
      const heartbeat: number[] = [];
      for (const s of live) heartbeat.push(await unitsOf('/streams/heartbeat', { userId, streamId: s }, 200));
      const { Item } = await client.send(
        new GetItemCommand({ TableName: table, Key: { userId: { S: userId } }, ConsistentRead: true }),
      );
      const remove = await unitsOf('/streams/remove', { userId, streamId: live[0] }, 200);
      const add = await unitsOf('/streams/add', { userId, streamId: streamId(99), ...display() }, 201);
      return { user, itemBytes: itemBytes(Item ?? {}), heartbeat, remove, add };
    };
    const worstUser = id('W', 128);
    const typicalUser = randomUUID();
    return {
      users: [
        await measureUser(
          // More replaces than the termination ring remembers: the item at its largest.
          'worst valid (display data out of the item), 12 replaces',
          worstUser,
          () => ({ deviceId: id('D', 128), metadata: worstMetadata() }),
          (i) => id(`s${i}-`, 64),
          12,
        ),
        await measureUser(
          // A household: three screens and a couple of "stop that one and watch here" within a lease.
          'typical (UUID ids, short device name, a title), 2 replaces',
          typicalUser,
          () => ({ deviceId: 'living-room-tv', metadata: { title: 'Big Buck Bunny' } }),
          () => randomUUID(),
          2,
        ),
      ],
    };
  } finally {
    client.destroy();
  }
}

const round = (value: number) => Math.round(value * 100) / 100;

export function renderWriteCost(record: WriteCostRecord): string {
  const rows = record.users.map(
    (user) => `| ${user.user} | ${user.itemBytes} | ${user.heartbeat.join(', ')} | ${user.remove} | ${user.add} |`,
  );
  return [
    '## Write cost per request (ReturnConsumedCapacity)',
    '',
    'After 3 adds and the replaces named, within one lease (12 is more terminations than the item remembers). Units are what DynamoDB reported for the UpdateItem of each request; item bytes are the user item by DynamoDB’s sizing rules. Contract: heartbeat, remove and refused add at most 2 units for any valid input at the default limit, 1 for a typical user.',
    '',
    '| user | item bytes | heartbeat units (each live stream) | remove units | add units (UpdateItem) |',
    '|---|---:|---|---:|---:|',
    ...rows,
    '',
  ].join('\n');
}
