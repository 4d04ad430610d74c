import { UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';

/**
 * The URL the SDK itself would send `table`'s item calls to, found by the SDK's own resolver: the
 * client's `endpoint` when one is configured; otherwise AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL
 * or the shared config's `endpoint_url` (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS); otherwise
 * DynamoDB's endpoint rules for the region, FIPS, dual-stack and the account-based endpoint of the
 * credentials' account (AWS_ACCOUNT_ID_ENDPOINT_MODE).
 */
export async function itemEndpoint(client: DynamoDBClient, table: string): Promise<URL> {
  // A copy, as the SDK's endpoint middleware passes: the resolver records a configured URL on what it is given.
  const endpoint = await getEndpointFromInstructions({ TableName: table }, UpdateItemCommand, { ...client.config });
  return endpoint.url;
}
