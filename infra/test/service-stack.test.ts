import * as fs from 'node:fs';
import * as path from 'node:path';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { IMAGE_EXCLUDES, REPO_ROOT } from '../lib/service-stack';
import { type Synthesized, synthStack } from './support/synth';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

function allStatements(template: Template): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies).flatMap(
    (p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
  );
}

const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);

function containerDefinition(template: Template): Record<string, unknown> {
  const [taskDef] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
  const [container] = (taskDef as { Properties: { ContainerDefinitions: Record<string, unknown>[] } }).Properties
    .ContainerDefinitions;
  if (!container) throw new Error('task definition has no container');
  return container;
}

describe('StreamLimiterStack (defaults: HTTP listener, 2-10 tasks)', () => {
  let synthesized: Synthesized;
  let template: Template;
  let tableLogicalId: string;

  beforeAll(() => {
    synthesized = synthStack();
    template = synthesized.template;
    tableLogicalId = synthesized.stack.getLogicalId(synthesized.stack.table.node.defaultChild as never);
  });

  describe('lease table', () => {
    it('keys items by userId alone, as a string', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        TableName: 'stream-leases',
        KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'userId', AttributeType: 'S' }],
      });
    });

    it('is on-demand, with TTL on gcAt, point-in-time recovery and deletion protection', () => {
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'gcAt', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      });
    });

    it('is retained when the stack is deleted or the table replaced', () => {
      template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    });

    it('keeps its logical id, so an update never tries to create a second table', () => {
      expect(tableLogicalId).toBe('LeasesTableFEA91EF2');
    });
  });

  describe('task role', () => {
    it('allows exactly GetItem and UpdateItem, on the lease table ARN only', () => {
      const dynamo = allStatements(template).filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
      expect(dynamo).toHaveLength(1);
      expect(dynamo[0]).toMatchObject({
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [tableLogicalId, 'Arn'] },
      });
      expect([...actionsOf(dynamo[0] as Statement)].sort()).toEqual(['dynamodb:GetItem', 'dynamodb:UpdateItem']);
    });

    it('has no dynamodb wildcard and no dynamodb action on Resource "*" anywhere', () => {
      for (const statement of allStatements(template)) {
        const dynamoActions = actionsOf(statement).filter((a) => a.startsWith('dynamodb:') || a === '*');
        if (dynamoActions.length === 0) continue;
        expect(dynamoActions.filter((a) => a.includes('*'))).toEqual([]);
        expect(JSON.stringify(statement.Resource)).not.toBe('"*"');
        expect(JSON.stringify(statement.Resource)).not.toContain('"*"');
      }
    });

    it('is the role the task runs as, and it carries only the table statement', () => {
      const [taskDef] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
      const taskRoleId = (taskDef as { Properties: { TaskRoleArn: { 'Fn::GetAtt': [string, string] } } }).Properties
        .TaskRoleArn['Fn::GetAtt'][0];
      const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
        JSON.stringify((p as { Properties: { Roles: unknown } }).Properties.Roles).includes(taskRoleId),
      );
      expect(policies).toHaveLength(1);
      expect(
        (policies[0] as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument
          .Statement,
      ).toHaveLength(1);
    });
  });

  describe('container', () => {
    it('runs the service against DynamoDB in the stack region, behind one proxy hop, with JWT auth', () => {
      const env = containerDefinition(template).Environment as { Name: string; Value: unknown }[];
      const byName = Object.fromEntries(env.map((e) => [e.Name, e.Value]));
      expect(byName).toMatchObject({
        PORT: '3000',
        DYNAMODB_ENDPOINT: 'aws',
        DYNAMODB_TABLE: { Ref: tableLogicalId },
        DYNAMODB_TIMEOUT_MS: '1000',
        AWS_REGION: 'us-east-1',
        TRUST_PROXY: '1',
        AUTH_MODE: 'jwt',
        LOG_LEVEL: 'info',
      });
      // Unset limits leave the service's own defaults in force.
      expect(byName).not.toHaveProperty('STREAM_LIMIT');
      expect(byName).not.toHaveProperty('LEASE_SECONDS');
      // The secret never appears as a plain variable.
      expect(byName).not.toHaveProperty('AUTH_JWT_SECRET');
    });

    it('gets AUTH_JWT_SECRET from a generated Secrets Manager secret', () => {
      const secrets = Object.keys(template.findResources('AWS::SecretsManager::Secret'));
      expect(secrets).toHaveLength(1);
      template.hasResourceProperties('AWS::SecretsManager::Secret', {
        GenerateSecretString: Match.objectLike({ PasswordLength: 64, ExcludePunctuation: true }),
      });
      expect(containerDefinition(template).Secrets).toEqual([
        { Name: 'AUTH_JWT_SECRET', ValueFrom: { Ref: secrets[0] } },
      ]);
    });

    it('listens on 3000, logs through awslogs to a 30-day log group, and has time to drain on stop', () => {
      const container = containerDefinition(template);
      expect(container.PortMappings).toEqual([{ ContainerPort: 3000, Protocol: 'tcp' }]);
      expect(container.LogConfiguration).toMatchObject({
        LogDriver: 'awslogs',
        Options: { 'awslogs-group': { Ref: expect.any(String) as string }, mode: 'non-blocking' },
      });
      // Drain bound is DYNAMODB_TIMEOUT_MS + 1 s = 2 s; SIGKILL comes 10 s after SIGTERM.
      expect(container.StopTimeout).toBe(10);
      const logGroupId = (container.LogConfiguration as { Options: { 'awslogs-group': { Ref: string } } }).Options[
        'awslogs-group'
      ].Ref;
      expect(template.toJSON().Resources[logGroupId].Properties.RetentionInDays).toBe(30);
    });

    it('is built from the repository root Dockerfile, leaving node_modules, dist, infra and .git out', () => {
      expect(fs.existsSync(path.join(REPO_ROOT, 'package.json'))).toBe(true);
      expect(fs.existsSync(path.join(REPO_ROOT, 'infra', 'cdk.json'))).toBe(true);
      expect(IMAGE_EXCLUDES).toEqual(expect.arrayContaining(['node_modules', 'dist', 'infra', '.git']));
    });
  });

  describe('load balancer', () => {
    it('health-checks targets on /healthz', () => {
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        HealthCheckPath: '/healthz',
        Matcher: { HttpCode: '200' },
        TargetType: 'ip',
      });
    });

    it('drains a deregistered task for 5 s, longer than the service takes to finish in-flight requests', () => {
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '5' }]),
      });
    });

    it('listens on HTTP port 80 open to the internet when no certificate is given', () => {
      template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, Protocol: 'HTTP' });
      template.hasResourceProperties('AWS::EC2::SecurityGroup', {
        SecurityGroupIngress: Match.arrayWith([Match.objectLike({ CidrIp: '0.0.0.0/0', FromPort: 80, ToPort: 80 })]),
      });
    });

    it('writes access logs to an encrypted, TLS-only bucket and drops invalid headers', () => {
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
        Scheme: 'internet-facing',
        LoadBalancerAttributes: Match.arrayWith([
          { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
          { Key: 'access_logs.s3.enabled', Value: 'true' },
        ]),
      });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    });
  });

  describe('service and scaling', () => {
    it('runs tasks in public subnets with a public IP and no NAT gateway, reachable only from the ALB', () => {
      template.resourceCountIs('AWS::EC2::NatGateway', 0);
      template.hasResourceProperties('AWS::ECS::Service', {
        DesiredCount: 2,
        LaunchType: 'FARGATE',
        NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'ENABLED' }) },
        DeploymentConfiguration: Match.objectLike({
          MinimumHealthyPercent: 100,
          DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        }),
      });
      template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
        FromPort: 3000,
        ToPort: 3000,
        SourceSecurityGroupId: Match.anyValue(),
      });
      template.resourcePropertiesCountIs('AWS::EC2::SecurityGroupIngress', { CidrIp: Match.anyValue() }, 0);
    });

    it('has Container Insights on', () => {
      template.hasResourceProperties('AWS::ECS::Cluster', {
        ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
      });
    });

    it('scales between minTasks and maxTasks', () => {
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        MinCapacity: 2,
        MaxCapacity: 10,
        ScalableDimension: 'ecs:service:DesiredCount',
      });
    });

    it('tracks CPU utilisation and ALB requests per target', () => {
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
          TargetValue: 60,
        }),
      });
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          PredefinedMetricSpecification: Match.objectLike({ PredefinedMetricType: 'ALBRequestCountPerTarget' }),
          TargetValue: 6000,
        }),
      });
    });
  });

  describe('alarms', () => {
    it('alarms on the target 5xx rate', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Threshold: 5,
        Metrics: Match.arrayWith([
          Match.objectLike({
            MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'HTTPCode_Target_5XX_Count' }) }),
          }),
          Match.objectLike({
            MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'RequestCount' }) }),
          }),
        ]),
      });
    });

    it('alarms on p99 target response time', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'TargetResponseTime',
        ExtendedStatistic: 'p99',
        Threshold: 0.5,
      });
    });

    it('alarms on throttled GetItem and UpdateItem, even when only one of them throttles', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Metrics: Match.arrayWith([
          Match.objectLike({ Expression: 'FILL(getItem, 0) + FILL(updateItem, 0)' }),
          Match.objectLike({
            MetricStat: Match.objectLike({
              Metric: Match.objectLike({
                MetricName: 'ThrottledRequests',
                Dimensions: Match.arrayWith([{ Name: 'Operation', Value: 'UpdateItem' }]),
              }),
            }),
          }),
        ]),
      });
    });

    it('notifies nobody unless an alarm topic is given', () => {
      template.resourcePropertiesCountIs('AWS::CloudWatch::Alarm', { AlarmActions: Match.anyValue() }, 0);
    });
  });

  it('synthesizes without CDK warnings or errors', () => {
    const annotations = Annotations.fromStack(synthesized.stack);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
  });
});

describe('StreamLimiterStack with every option set from context', () => {
  let template: Template;

  beforeAll(() => {
    // Context values arrive as strings from `cdk deploy -c key=value`.
    template = synthStack({
      certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000',
      alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:stream-limiter-alarms',
      tableName: 'leases-staging',
      minTasks: '3',
      maxTasks: '20',
      streamLimit: '5',
      leaseSeconds: '120',
      logLevel: 'warn',
      dynamoDbTimeoutMs: '5000',
      containerInsights: 'false',
    }).template;
  });

  it('names the table and tells the service', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', { TableName: 'leases-staging' });
  });

  it('passes the limits and log level to the service', () => {
    const env = containerDefinition(template).Environment as { Name: string; Value: unknown }[];
    expect(env).toEqual(
      expect.arrayContaining([
        { Name: 'STREAM_LIMIT', Value: '5' },
        { Name: 'LEASE_SECONDS', Value: '120' },
        { Name: 'LOG_LEVEL', Value: 'warn' },
        { Name: 'DYNAMODB_TIMEOUT_MS', Value: '5000' },
      ]),
    );
  });

  it('stretches the drain timings with DYNAMODB_TIMEOUT_MS (6 s drain: 9 s delay, 14 s stop timeout)', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '9' }]),
    });
    expect(containerDefinition(template).StopTimeout).toBe(14);
  });

  it('turns Container Insights off when asked', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'disabled' }],
    });
  });

  it('serves HTTPS on 443 and redirects HTTP on 80 to it', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: Match.stringLikeRegexp('^arn:aws:acm:') }],
      SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-PQ-2025-09',
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [Match.objectLike({ Type: 'redirect', RedirectConfig: Match.objectLike({ Protocol: 'HTTPS' }) })],
    });
  });

  it('sends every alarm to the topic', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(3);
    for (const alarm of alarms) {
      expect((alarm as { Properties: { AlarmActions: unknown } }).Properties.AlarmActions).toEqual([
        'arn:aws:sns:us-east-1:123456789012:stream-limiter-alarms',
      ]);
    }
  });

  it('uses the given task bounds', () => {
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 3, MaxCapacity: 20 });
    template.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 3 });
  });
});
