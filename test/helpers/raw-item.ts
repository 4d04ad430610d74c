import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { testEndpoint } from './test-app';

let documents: DynamoDBDocumentClient | undefined;

/** The user's item exactly as stored, read around the service, for asserting on the table itself. */
export async function rawItem(table: string, userId: string): Promise<Record<string, unknown> | undefined> {
  documents ??= DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: testEndpoint(),
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  );
  const { Item } = await documents.send(new GetCommand({ TableName: table, Key: { userId }, ConsistentRead: true }));
  return Item;
}

export function leaseAttributes(item: Record<string, unknown> | undefined): string[] {
  return Object.keys(item ?? {})
    .filter((name) => name.startsWith('L:'))
    .sort();
}
