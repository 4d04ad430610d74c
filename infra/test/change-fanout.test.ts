import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ChangeFanout } from '../lib/change-fanout';
import { LeaseTable } from '../lib/lease-table';
import { REPO_ROOT } from '../lib/service-stack';

function synth(): { stack: Stack; template: Template } {
  const app = new App();
  const stack = new Stack(app, 'Fanout', { env: { region: 'us-east-1', account: '123456789012' } });
  const table = new LeaseTable(stack, 'Leases', { tableName: 'stream-leases' }).table;
  const task = new ecs.FargateTaskDefinition(stack, 'Task');
  new ChangeFanout(stack, 'ChangeFanout', { table, repoRoot: REPO_ROOT }).grantSubscribe(task.taskRole);
  return { stack, template: Template.fromStack(stack) };
}

describe('ChangeFanout', () => {
  let synthesized: ReturnType<typeof synth>;
  beforeAll(() => {
    synthesized = synth();
  });

  it('gives the lease table a stream with both images, keeping its logical id', () => {
    synthesized.template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'stream-leases',
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
    });
  });

  it('reads the stream with exactly one reader: one event source mapping, updates only, no batching window, stale kicks dropped', () => {
    synthesized.template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    synthesized.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^LeasesTable'), 'StreamArn'] },
      StartingPosition: 'LATEST',
      MaximumBatchingWindowInSeconds: 0,
      MaximumRecordAgeInSeconds: 60,
      FilterCriteria: { Filters: [{ Pattern: JSON.stringify({ eventName: ['MODIFY'] }) }] },
    });
    synthesized.template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
    });
  });

  it('publishes to an IAM-only AppSync Events API the tasks may subscribe to, and nothing else may', () => {
    synthesized.template.hasResourceProperties('AWS::AppSync::Api', {
      EventConfig: Match.objectLike({
        AuthProviders: [{ AuthType: 'AWS_IAM' }],
        ConnectionAuthModes: [{ AuthType: 'AWS_IAM' }],
        DefaultPublishAuthModes: [{ AuthType: 'AWS_IAM' }],
        DefaultSubscribeAuthModes: [{ AuthType: 'AWS_IAM' }],
      }),
    });
    synthesized.template.hasResourceProperties('AWS::AppSync::ChannelNamespace', { Name: 'terminations' });
    const policies = synthesized.template.findResources('AWS::IAM::Policy');
    const actions = Object.values(policies).flatMap((policy) =>
      (policy.Properties.PolicyDocument.Statement as { Action: string | string[] }[]).flatMap((s) => s.Action),
    );
    expect(actions).toEqual(
      expect.arrayContaining(['appsync:EventPublish', 'appsync:EventSubscribe', 'appsync:EventConnect']),
    );
  });

  it('passes cdk-nag AwsSolutions without unacknowledged findings', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(synthesized.stack);
    const ours = report.violations.filter((v) =>
      v.violatingResources.some((r) => (r.constructPath ?? '').includes('ChangeFanout')),
    );
    expect(
      ours.map(
        (v) =>
          `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath ?? '').join(', ')}: ${v.description}`,
      ),
    ).toEqual([]);
  });
});
