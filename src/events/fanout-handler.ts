import { Sha256 } from '@smithy/core/checksum';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { terminationsOf, type ChangeRecord, type StreamTerminated } from './change-feed';

/*
 * The fleet's one reader of the table's stream (a Lambda event source mapping, see
 * infra/lib/change-fanout.ts): it decodes each change with the same terminationsOf the service's
 * own reader uses, and publishes only the terminations (a few per second, not every heartbeat) to
 * an AppSync Events channel that every task subscribes to.
 */

/** The channel every task subscribes to; the namespace is provisioned by the construct. */
export const TERMINATIONS_CHANNEL = '/terminations/all';
/** AppSync Events takes at most 5 events per publish request. */
const EVENTS_PER_PUBLISH = 5;

export interface FanoutOptions {
  /** The Event API's HTTP endpoint, e.g. https://<id>.appsync-api.<region>.amazonaws.com/event */
  readonly endpoint: URL;
  readonly region: string;
  readonly credentials: () => Promise<AwsCredentialIdentity>;
}

/** The terminations of a batch of stream records, as published. */
export function terminationsOfBatch(event: DynamoDBStreamEvent): StreamTerminated[] {
  return event.Records.flatMap((record) => terminationsOf(record as unknown as ChangeRecord));
}

/** Builds the handler; it throws when a publish fails, so Lambda retries the batch (bounded by the mapping). */
export function createFanoutHandler(
  options: FanoutOptions,
): (event: DynamoDBStreamEvent) => Promise<{ published: number }> {
  const signer = new SignatureV4({
    service: 'appsync',
    region: options.region,
    credentials: options.credentials,
    sha256: Sha256,
  });
  const publish = async (events: StreamTerminated[]) => {
    const body = JSON.stringify({
      channel: TERMINATIONS_CHANNEL,
      events: events.map((event) => JSON.stringify(event)),
    });
    const request = new HttpRequest({
      method: 'POST',
      protocol: options.endpoint.protocol,
      hostname: options.endpoint.hostname,
      ...(options.endpoint.port && { port: Number(options.endpoint.port) }),
      path: options.endpoint.pathname,
      headers: { host: options.endpoint.host, 'content-type': 'application/json' },
      body,
    });
    const signed = await signer.sign(request);
    const answer = await fetch(options.endpoint, {
      method: 'POST',
      headers: signed.headers,
      body,
      signal: AbortSignal.timeout(5000),
    });
    const text = await answer.text();
    if (!answer.ok) throw new Error(`AppSync Events publish answered ${answer.status}: ${text.slice(0, 200)}`);
  };
  return async (event) => {
    const terminations = terminationsOfBatch(event);
    for (let i = 0; i < terminations.length; i += EVENTS_PER_PUBLISH)
      await publish(terminations.slice(i, i + EVENTS_PER_PUBLISH));
    return { published: terminations.length };
  };
}

/** The Lambda entry point: endpoint from the function's environment, credentials from its role. */
export const handler = (event: DynamoDBStreamEvent) => {
  const env = process.env;
  return createFanoutHandler({
    endpoint: new URL(`https://${env.EVENTS_HTTP_DNS}/event`),
    region: env.AWS_REGION ?? 'us-east-1',
    credentials: async () => ({
      accessKeyId: env.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY ?? '',
      ...(env.AWS_SESSION_TOKEN && { sessionToken: env.AWS_SESSION_TOKEN }),
    }),
  })(event);
};
