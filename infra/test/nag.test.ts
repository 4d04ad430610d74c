import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import {
  ALLOW_HTTP,
  type Synthesized,
  type SynthesizedServerless,
  synthServerlessStack,
  synthStack,
  WITH_CERTIFICATE,
} from './support/synth';

/**
 * Every cdk-nag acknowledgment in the tree. (aws-cdk-lib records a few of its own for its
 * CloudFormation-Validate rules; those are CDK's, not ours, and are left out.)
 */
function acknowledgments(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      )
      .filter((a) => a.id.startsWith('AwsSolutions-')),
  );
}

function findings(synthesized: Synthesized): string[] {
  // The same pack bin/app.ts registers, run on the synthesized construct tree.
  const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(synthesized.stack);
  return report.violations.map(
    (v) =>
      `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}: ${v.description}`,
  );
}

describe.each([
  ['plain HTTP by explicit opt-in (allowHttp)', { ...ALLOW_HTTP }],
  [
    'certificate, alarm topic, Container Insights off',
    {
      ...WITH_CERTIFICATE,
      alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:alarms',
      containerInsights: 'false',
    },
  ],
  [
    'JWKS authentication (no generated secret)',
    {
      ...WITH_CERTIFICATE,
      authJwksUrl: 'https://issuer.example.com/.well-known/jwks.json',
      authJwtAudience: 'streams',
    },
  ],
])('cdk-nag AwsSolutions with %s', (_name, context: Record<string, unknown>) => {
  let synthesized: Synthesized;

  beforeAll(() => {
    synthesized = synthStack(context);
  });

  it('leaves no unacknowledged error or warning', () => {
    expect(findings(synthesized)).toEqual([]);
  });

  it('acknowledges only the reviewed rules, each on its own resource', () => {
    const acknowledged = acknowledgments(synthesized.app)
      .map((a) => `${a.path}: ${a.id}`)
      .sort();
    const expected = [
      'StreamLimiter/Alb/SecurityGroup: AwsSolutions-EC23',
      'StreamLimiter/AlbAccessLogs: AwsSolutions-S1',
      // The fan-out's publisher Lambda, pinned to the service's Node 22 like the Lambda stack's function.
      'StreamLimiter/ChangeFanout/Publisher: AwsSolutions-L1',
      'StreamLimiter/Task: AwsSolutions-ECS2',
      'StreamLimiter/Task/ExecutionRole: AwsSolutions-IAM5[Resource::*]',
    ];
    // The HS256 key exists (and needs its rotation acknowledgment) only when the stack makes it.
    if (!context.authJwksUrl) expected.push('StreamLimiter/JwtSecret: AwsSolutions-SMG4');
    if (context.containerInsights === 'false') expected.push('StreamLimiter/Cluster: AwsSolutions-ECS4');
    expect(acknowledged).toEqual(expected.sort());
  });

  it('gives every acknowledgment a concrete reason', () => {
    const all = acknowledgments(synthesized.app);
    expect(all.length).toBeGreaterThan(0);
    const weak = all.filter(
      ({ reason }) =>
        reason.trim().length < 60 || /^(n\/?a|todo|tbd|suppress(ed)?|ok|fine|not needed)\.?$/i.test(reason.trim()),
    );
    expect(weak).toEqual([]);
  });
});

describe.each([
  ['defaults (HS256 key in Secrets Manager)', {}],
  [
    'JWKS, provisioned capacity and an alarm topic',
    {
      authJwksUrl: 'https://issuer.example.com/.well-known/jwks.json',
      authJwtAudience: 'streams',
      capacity: 'provisioned',
      alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:alarms',
    },
  ],
])('cdk-nag AwsSolutions on StreamLimiterServerless with %s', (_name, context: Record<string, unknown>) => {
  let synthesized: SynthesizedServerless;

  beforeAll(() => {
    synthesized = synthServerlessStack(context);
  });

  it('leaves no unacknowledged error or warning', () => {
    const report = new AwsSolutionsChecks(undefined, { verbose: true }).validateScope(synthesized.stack);
    expect(
      report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`),
    ).toEqual([]);
  });

  it('acknowledges only the reviewed rules, each on its own resource, with a concrete reason', () => {
    const all = acknowledgments(synthesized.app);
    const expected = [
      'StreamLimiterServerless/Api/DefaultRoute: AwsSolutions-APIG4',
      'StreamLimiterServerless/Function: AwsSolutions-L1',
    ];
    if (!context.authJwksUrl) expected.push('StreamLimiterServerless/JwtSecret: AwsSolutions-SMG4');
    expect(all.map((a) => `${a.path}: ${a.id}`).sort()).toEqual(expected.sort());
    expect(all.filter(({ reason }) => reason.trim().length < 60)).toEqual([]);
  });
});
