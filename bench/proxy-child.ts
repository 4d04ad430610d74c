/*
 * The counting proxy (support/dynamo-proxy.ts) in a process of its own,
 * so that forwarding DynamoDB traffic neither competes with the load generator
 * for its event loop nor is measured as the load generator's work.
 * argv[2]: the DynamoDB Local endpoint. IPC: { cmd: 'counts' | 'reset' }.
 */
import { startDynamoProxy } from '../support/dynamo-proxy';

async function main(): Promise<void> {
  const target = process.argv[2];
  if (!target) throw new Error('usage: proxy-child <dynamodb endpoint>');
  const proxy = await startDynamoProxy(target);
  process.on('message', (message: { id: number; cmd: string }) => {
    if (message.cmd === 'counts') process.send?.({ id: message.id, counts: proxy.counts() });
    if (message.cmd === 'reset') {
      proxy.resetCounts();
      process.send?.({ id: message.id });
    }
  });
  process.once('SIGTERM', () => void proxy.close().finally(() => process.exit(0)));
  process.send?.({ ready: true, endpoint: proxy.endpoint });
}

main().catch((error: unknown) => {
  process.stderr.write(`proxy-child: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
