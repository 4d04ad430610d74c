import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { Logger } from 'pino';
import type { Config } from '../config';
import type { LeaseStorePort } from '../http/routes/context';
import { AppSyncEventsSource } from './appsync-events-source';
import type { ChangeSource } from './change-feed';
import { DynamoStreamSource } from './dynamo-stream-source';
import { TerminationFeed } from './termination-feed';

/**
 * The feed STREAM_EVENTS asks for, or undefined when it is off. `storeUrl` is the self-run endpoint
 * (embedded or a URL), undefined on AWS.
 */
export function createTerminationFeed(
  config: Config,
  storeUrl: string | undefined,
  store: Pick<LeaseStorePort, 'readUser'>,
  logger: Logger,
): TerminationFeed | undefined {
  if (config.streamEvents === 'off') return undefined;
  const source: ChangeSource =
    config.streamEvents === 'appsync' && config.streamEventsUrl
      ? // The task role's credentials (ECS container credentials), refreshed before they expire.
        new AppSyncEventsSource({
          url: config.streamEventsUrl,
          region: config.region,
          credentials: defaultProvider(),
          logger,
        })
      : new DynamoStreamSource({
          endpoint: storeUrl === undefined ? { kind: 'aws' } : { kind: 'url', url: storeUrl },
          region: config.region,
          table: config.table,
          logger,
        });
  return new TerminationFeed(source, { logger, replacerDevice: replacerDeviceFrom(store) });
}

/**
 * The replacing stream's deviceId as a 410 shows it: read back from its display item by the store.
 * The store writes that item just after the admission, so the change can arrive first: a few reads
 * a moment apart, then the event goes without it.
 */
export function replacerDeviceFrom(store: Pick<LeaseStorePort, 'readUser'>, attempts = 4, spacingMs = 150) {
  return async (userId: string, streamId: string): Promise<string | undefined> => {
    for (let attempt = 1; ; attempt++) {
      const lease = (await store.readUser(userId, Date.now())).leases.get(streamId);
      if (lease?.deviceId !== undefined || lease === undefined || attempt >= attempts) return lease?.deviceId;
      await new Promise((resolve) => setTimeout(resolve, spacingMs));
    }
  };
}
