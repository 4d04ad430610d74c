import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, readConfig } from '../lib/config';
import { StreamLimiterStack } from '../lib/service-stack';

// Entry point of `cdk synth|diff|deploy` (see cdk.json). Settings come from context
// (`-c key=value`, see README.md); nothing is looked up in an account, so synth works offline.
const app = new App();

let config;
try {
  config = readConfig(app.node);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}

const { stackName, region, ...props } = config;
new StreamLimiterStack(app, stackName, {
  ...props,
  // No account: nothing is looked up, so synth needs no credentials (see lib/config.ts on region).
  env: { region },
  description: 'Concurrent video-stream limiter: ECS Fargate service behind an ALB, DynamoDB lease table',
});

// Every synth (and so every deploy) runs the AWS Solutions pack: a new finding stops it until
// it is fixed or acknowledged with a reason next to the resource in lib/.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

app.synth();
