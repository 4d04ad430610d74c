import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { startLocalDynamo, type LocalDynamo } from '../../src/store/local-dynamo';

declare global {
  var __LOCAL_DYNAMO__: LocalDynamo | undefined;
}

/**
 * Starts the one DynamoDB Local of this test run and builds dist/ when stale
 * (e2e tests run the compiled service as real processes).
 * Workers inherit TEST_DYNAMODB_ENDPOINT from this process's environment.
 */
export default async function globalSetup(): Promise<void> {
  const root = path.resolve(__dirname, '../..');
  execFileSync(process.execPath, [path.join(root, 'scripts/ensure-build.js')], { stdio: 'inherit' });
  const dynamo = await startLocalDynamo();
  globalThis.__LOCAL_DYNAMO__ = dynamo;
  process.env.TEST_DYNAMODB_ENDPOINT = dynamo.endpoint;
}
