import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { readConfig, readServerlessConfig } from '../../lib/config';
import { StreamLimiterServerlessStack } from '../../lib/serverless-stack';
import { StreamLimiterStack } from '../../lib/service-stack';

/** The feature flags `cdk synth` runs with, so tests see the same template. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(fs.readFileSync(path.join(__dirname, '../../cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/**
 * A throwaway Docker build context: the real Dockerfile belongs to the service and staging
 * the whole repository for every synth would only slow the tests down.
 */
function fixtureImageDirectory(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stream-limiter-image-'));
  fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\n');
  return dir;
}

export interface Synthesized {
  readonly app: App;
  readonly stack: StreamLimiterStack;
  readonly template: Template;
}

/** A well-formed ACM certificate ARN in the tests' region (nothing is looked up at synth). */
export const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000';

/** Context for the production listener: HTTPS on 443 with a certificate. */
export const WITH_CERTIFICATE = Object.freeze({ certificateArn: CERTIFICATE_ARN });

/** Context for the explicit plain-HTTP trial listener. */
export const ALLOW_HTTP = Object.freeze({ allowHttp: 'true' });

/**
 * Builds the stack the way bin/app.ts does, from context, and synthesizes it once. The context
 * must choose a listener (WITH_CERTIFICATE or ALLOW_HTTP), as `cdk synth` requires. The fan-out
 * Lambda is not bundled (the template does not depend on the bundle; app.test.ts bundles it).
 */
export function synthStack(context: Record<string, unknown>): Synthesized {
  const app = new App({
    context: { ...cdkJsonContext(), region: 'us-east-1', 'aws:cdk:bundling-stacks': [], ...context },
  });
  const { stackName, region, ...config } = readConfig(app.node, {});
  const stack = new StreamLimiterStack(app, stackName, {
    ...config,
    env: { region },
    imageDirectory: fixtureImageDirectory(),
  });
  return { app, stack, template: Template.fromStack(stack) };
}

export interface SynthesizedServerless {
  readonly app: App;
  readonly stack: StreamLimiterServerlessStack;
  readonly template: Template;
}

/**
 * Builds the Lambda stack the way bin/app.ts does. Bundling is skipped (CDK's
 * `aws:cdk:bundling-stacks` context) unless asked for: the template does not depend on the
 * bundle's content, and app.test.ts bundles for real once.
 */
export function synthServerlessStack(
  context: Record<string, unknown> = {},
  options: { bundle?: boolean } = {},
): SynthesizedServerless {
  const app = new App({
    context: {
      ...cdkJsonContext(),
      region: 'us-east-1',
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...context,
    },
  });
  const { stackName, region, ...config } = readServerlessConfig(app.node, {});
  const stack = new StreamLimiterServerlessStack(app, stackName, { ...config, env: { region } });
  return { app, stack, template: Template.fromStack(stack) };
}
