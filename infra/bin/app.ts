import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError, readConfig, readServerlessConfig, readStackSelection } from '../lib/config';
import { StreamLimiterServerlessStack } from '../lib/serverless-stack';
import { StreamLimiterStack } from '../lib/service-stack';

// Entry point of `cdk synth|diff|deploy` (see cdk.json). Settings come from context
// (`-c key=value`, see README.md); nothing is looked up in an account, so synth works offline.
// Two stacks from the same code: StreamLimiter (ECS Fargate behind an ALB) and
// StreamLimiterServerless (Lambda behind an API Gateway HTTP API); `-c stacks=ecs|serverless`
// builds one of them only (a Lambda-only deployment then needs no listener choice).
const app = new App();

let stacks;
try {
  const selection = readStackSelection(app.node);
  stacks = {
    ecs: selection === 'serverless' ? undefined : readConfig(app.node),
    serverless: selection === 'ecs' ? undefined : readServerlessConfig(app.node),
  };
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(err.message);
  process.exit(1);
}

if (stacks.ecs) {
  const { stackName, region, ...props } = stacks.ecs;
  new StreamLimiterStack(app, stackName, {
    ...props,
    // No account: nothing is looked up, so synth needs no credentials (see lib/config.ts on region).
    env: { region },
    description: 'Concurrent video-stream limiter: ECS Fargate service behind an ALB, DynamoDB lease table',
  });
}
if (stacks.serverless) {
  const { stackName, region, ...props } = stacks.serverless;
  new StreamLimiterServerlessStack(app, stackName, {
    ...props,
    env: { region },
    description: 'Concurrent video-stream limiter: Lambda behind an API Gateway HTTP API, DynamoDB lease table',
  });
}

// Every synth (and so every deploy) runs the AWS Solutions pack: a new finding stops it until
// it is fixed or acknowledged with a reason next to the resource in lib/.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

app.synth();
