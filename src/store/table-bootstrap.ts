import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { StoreUnavailable } from '../errors';
import { classifyFault } from './faults';
import { PARTITION_KEY, TTL_ATTRIBUTE } from './table';

/** Creates the table (on-demand, TTL on gcAt) if missing. For DynamoDB Local and self-run endpoints only. */
export async function ensureTable(
  client: DynamoDBClient,
  table: string,
  options: { stream?: boolean } = {},
): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: table }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw classifyFault(error);
    try {
      await client.send(
        new CreateTableCommand({
          TableName: table,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: PARTITION_KEY, AttributeType: 'S' }],
          KeySchema: [{ AttributeName: PARTITION_KEY, KeyType: 'HASH' }],
          ...(options.stream && { StreamSpecification: { StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' } }),
        }),
      );
    } catch (createError) {
      // Another instance created it first.
      if (!(createError instanceof ResourceInUseException)) throw classifyFault(createError);
    }
    await waitUntilActive(client, table);
    try {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: table,
          TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        }),
      );
    } catch (ttlError) {
      // "TimeToLive is already enabled" when two instances race here.
      if ((ttlError as Error).name !== 'ValidationException') throw classifyFault(ttlError);
    }
  }
}

/** Polls every 200 ms (the SDK waiter's first poll comes after 20 s; DynamoDB Local is ACTIVE at once). */
async function waitUntilActive(client: DynamoDBClient, table: string): Promise<void> {
  for (let polls = 0; polls < 300; polls++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new StoreUnavailable('missing-table', { cause: new Error(`table ${table} did not become ACTIVE`) });
}
