import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, type Template } from 'aws-cdk-lib/assertions';
import { DEFAULT_CONFIG } from '../lib/config';
import { IMAGE_EXCLUDES, REPO_ROOT, StreamLimiterStack } from '../lib/service-stack';
import { ALLOW_HTTP, CERTIFICATE_ARN, type Synthesized, synthStack, WITH_CERTIFICATE } from './support/synth';
import { dashboardBody } from './support/template';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };

function allStatements(template: Template): Statement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies).flatMap(
    (p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
  );
}

const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);

/** The statements of the role the task runs as (its only policy). */
function taskRoleStatements(template: Template): Statement[] {
  const [taskDef] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
  const taskRoleId = (taskDef as { Properties: { TaskRoleArn: { 'Fn::GetAtt': [string, string] } } }).Properties
    .TaskRoleArn['Fn::GetAtt'][0];
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) =>
    JSON.stringify((p as { Properties: { Roles: unknown } }).Properties.Roles).includes(taskRoleId),
  );
  expect(policies).toHaveLength(1);
  return (policies[0] as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument
    .Statement;
}

function containerDefinition(template: Template): Record<string, unknown> {
  const [taskDef] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
  const [container] = (taskDef as { Properties: { ContainerDefinitions: Record<string, unknown>[] } }).Properties
    .ContainerDefinitions;
  if (!container) throw new Error('task definition has no container');
  return container;
}

describe('StreamLimiterStack (defaults with a certificate: HTTPS listener, 2-10 tasks)', () => {
  let synthesized: Synthesized;
  let template: Template;
  let tableLogicalId: string;

  beforeAll(() => {
    synthesized = synthStack({ ...WITH_CERTIFICATE });
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
    it("allows exactly the store's four item calls, on the lease table ARN only", () => {
      const dynamo = taskRoleStatements(template).filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
      expect(dynamo).toHaveLength(1);
      expect(dynamo[0]).toMatchObject({
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [tableLogicalId, 'Arn'] },
      });
      // GetItem and UpdateItem for every decision; PutItem and BatchGetItem for display items.
      expect([...actionsOf(dynamo[0] as Statement)].sort()).toEqual([
        'dynamodb:BatchGetItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
      ]);
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

    it('is the role the task runs as: the table statement, then only connect and subscribe on the fan-out', () => {
      const [apiId] = Object.keys(template.findResources('AWS::AppSync::Api'));
      const apiArn = { 'Fn::GetAtt': [apiId, 'ApiArn'] };
      const [table, connect, subscribe, ...more] = taskRoleStatements(template);
      expect(table?.Action).toContain('dynamodb:GetItem');
      // Connect on the Event API, subscribe on the terminations namespace only: never publish.
      expect(connect).toEqual({ Effect: 'Allow', Action: 'appsync:EventConnect', Resource: apiArn });
      expect(subscribe).toEqual({
        Effect: 'Allow',
        Action: 'appsync:EventSubscribe',
        Resource: { 'Fn::Join': ['', [apiArn, '/channelNamespace/terminations']] },
      });
      expect(more).toEqual([]);
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
        HOST: '0.0.0.0',
        METRICS_PORT: '9464',
        METRICS_EMF: 'true',
      });
      // HS256 with the generated key: no JWKS settings, issuer and audience unchecked unless given.
      expect(byName).not.toHaveProperty('AUTH_JWKS_URL');
      expect(byName).not.toHaveProperty('AUTH_JWT_AUDIENCE');
      // Unset limits leave the service's own defaults in force.
      expect(byName).not.toHaveProperty('STREAM_LIMIT');
      expect(byName).not.toHaveProperty('LEASE_SECONDS');
      // The secret never appears as a plain variable.
      expect(byName).not.toHaveProperty('AUTH_JWT_SECRET');
    });

    it('subscribes the tasks to the fan-out: STREAM_EVENTS=appsync with the Event API realtime endpoint', () => {
      const env = containerDefinition(template).Environment as { Name: string; Value: unknown }[];
      const byName = Object.fromEntries(env.map((e) => [e.Name, e.Value]));
      const [apiId] = Object.keys(template.findResources('AWS::AppSync::Api'));
      expect(byName.STREAM_EVENTS).toBe('appsync');
      expect(byName.STREAM_EVENTS_URL).toEqual({
        'Fn::Join': ['', ['wss://', { 'Fn::GetAtt': [apiId, 'Dns.Realtime'] }, '/event/realtime']],
      });
      // The one reader of the table's stream, and the stream it reads.
      template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
      template.hasResourceProperties('AWS::DynamoDB::Table', {
        StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      });
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

    it('runs on a read-only root filesystem with no writable mount', () => {
      const container = containerDefinition(template);
      expect(container.ReadonlyRootFilesystem).toBe(true);
      expect(container.MountPoints ?? []).toEqual([]);
      const [taskDef] = Object.values(template.findResources('AWS::ECS::TaskDefinition'));
      expect((taskDef as { Properties: { Volumes?: unknown[] } }).Properties.Volumes ?? []).toEqual([]);
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

    it('serves HTTPS on 443 with the certificate and redirects HTTP on 80 to it, both open to the internet', () => {
      template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 2);
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Port: 443,
        Protocol: 'HTTPS',
        Certificates: [{ CertificateArn: CERTIFICATE_ARN }],
        DefaultActions: [Match.objectLike({ Type: 'forward' })],
      });
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Port: 80,
        Protocol: 'HTTP',
        DefaultActions: [
          Match.objectLike({
            Type: 'redirect',
            RedirectConfig: Match.objectLike({ Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' }),
          }),
        ],
      });
      template.hasResourceProperties('AWS::EC2::SecurityGroup', {
        SecurityGroupIngress: Match.arrayWith([
          Match.objectLike({ CidrIp: '0.0.0.0/0', FromPort: 443, ToPort: 443 }),
          Match.objectLike({ CidrIp: '0.0.0.0/0', FromPort: 80, ToPort: 80 }),
        ]),
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

  describe('metrics port', () => {
    // What the ALB can reach: the target group's port and the task security group's ingress.
    const portRanges = (type: string) =>
      Object.values(template.findResources(type)).map((r) => {
        const p = (r as { Properties: { FromPort?: number; ToPort?: number; Port?: number } }).Properties;
        return { from: p.FromPort ?? p.Port, to: p.ToPort ?? p.Port };
      });

    it('maps only the service port in the container, never METRICS_PORT', () => {
      const mappings = containerDefinition(template).PortMappings as { ContainerPort: number }[];
      expect(mappings.map((m) => m.ContainerPort)).toEqual([3000]);
    });

    it('registers only the service port in the target group', () => {
      // With IP targets, ECS registers each task at the ContainerPort named here; the target
      // group's own Port is only a default that registration overrides.
      template.resourceCountIs('AWS::ElasticLoadBalancingV2::TargetGroup', 1);
      template.hasResourceProperties('AWS::ECS::Service', {
        LoadBalancers: [{ ContainerName: 'app', ContainerPort: 3000, TargetGroupArn: Match.anyValue() }],
      });
    });

    it('lets the ALB reach the tasks on the service port only, not on 9464', () => {
      const ingress = portRanges('AWS::EC2::SecurityGroupIngress');
      expect(ingress).toEqual([{ from: 3000, to: 3000 }]);
      const egress = portRanges('AWS::EC2::SecurityGroupEgress');
      for (const rule of egress)
        expect(rule.from === undefined || 9464 < rule.from || 9464 > (rule.to ?? 0)).toBe(true);
      // Inline rules on the security groups themselves open nothing to 9464 either.
      for (const group of Object.values(template.findResources('AWS::EC2::SecurityGroup'))) {
        const rules = (group as { Properties: { SecurityGroupIngress?: { FromPort: number; ToPort: number }[] } })
          .Properties.SecurityGroupIngress;
        for (const rule of rules ?? []) expect(9464 >= rule.FromPort && 9464 <= rule.ToPort).toBe(false);
      }
    });
  });

  describe('web application firewall', () => {
    const webAcl = () => {
      const acls = Object.values(template.findResources('AWS::WAFv2::WebACL'));
      expect(acls).toHaveLength(1);
      return (acls[0] as { Properties: { Rules: Record<string, unknown>[] } }).Properties;
    };

    it('associates one regional web ACL, allowing by default, with the load balancer', () => {
      template.hasResourceProperties('AWS::WAFv2::WebACL', { Scope: 'REGIONAL', DefaultAction: { Allow: {} } });
      const [lbId] = Object.keys(template.findResources('AWS::ElasticLoadBalancingV2::LoadBalancer'));
      const [aclId] = Object.keys(template.findResources('AWS::WAFv2::WebACL'));
      template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
      template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
        ResourceArn: { Ref: lbId },
        WebACLArn: { 'Fn::GetAtt': [aclId, 'Arn'] },
      });
    });

    it('blocks an address over 1200 requests a minute, across all tasks, with 429 RATE_LIMITED and Retry-After', () => {
      const props = webAcl();
      const rate = props.Rules.find((r) => r.Name === 'RateLimitPerClientIp');
      expect(rate).toMatchObject({
        Priority: 0,
        Statement: { RateBasedStatement: { Limit: 1200, EvaluationWindowSec: 60, AggregateKeyType: 'IP' } },
        Action: {
          Block: {
            CustomResponse: {
              ResponseCode: 429,
              CustomResponseBodyKey: 'rate-limited',
              ResponseHeaders: [{ Name: 'Retry-After', Value: '60' }],
            },
          },
        },
      });
      const bodies = (props as unknown as { CustomResponseBodies: Record<string, { Content: string }> })
        .CustomResponseBodies;
      expect(JSON.parse((bodies['rate-limited'] as { Content: string }).Content)).toMatchObject({
        status: 429,
        code: 'RATE_LIMITED',
      });
    });

    it("runs AWS's common rule set, counting (not blocking) its 8 KB body rule below the API's own 16 KiB limit", () => {
      const common = webAcl().Rules.find((r) => r.Name === 'AWSManagedRulesCommonRuleSet');
      expect(common).toMatchObject({
        OverrideAction: { None: {} },
        Statement: {
          ManagedRuleGroupStatement: {
            VendorName: 'AWS',
            Name: 'AWSManagedRulesCommonRuleSet',
            RuleActionOverrides: [{ Name: 'SizeRestrictions_BODY', ActionToUse: { Count: {} } }],
          },
        },
      });
      expect(
        (common as { Statement: { ManagedRuleGroupStatement: Record<string, unknown> } }).Statement
          .ManagedRuleGroupStatement,
      ).not.toHaveProperty('ExcludedRules');
    });

    it('publishes metrics and sampled requests for the ACL and each rule', () => {
      for (const rule of webAcl().Rules) {
        expect(rule.VisibilityConfig).toMatchObject({ CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true });
      }
    });

    it('logs only blocked and counted requests, without the Authorization header, to an aws-waf-logs- group', () => {
      template.hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: 'aws-waf-logs-StreamLimiter',
        RetentionInDays: 30,
      });
      template.hasResourceProperties('AWS::WAFv2::LoggingConfiguration', {
        RedactedFields: [{ SingleHeader: { Name: 'authorization' } }],
        LoggingFilter: {
          DefaultBehavior: 'DROP',
          Filters: [
            Match.objectLike({
              Behavior: 'KEEP',
              Conditions: Match.arrayWith([
                { ActionCondition: { Action: 'BLOCK' } },
                { ActionCondition: { Action: 'COUNT' } },
              ]),
            }),
          ],
        },
      });
      // The log group's ARN ends with its name, without the ":*" that WAF refuses.
      const [logGroupId] = Object.keys(
        template.findResources('AWS::Logs::LogGroup', {
          Properties: { LogGroupName: 'aws-waf-logs-StreamLimiter' },
        }),
      );
      template.hasResourceProperties('AWS::WAFv2::LoggingConfiguration', {
        LogDestinationConfigs: [
          { 'Fn::Join': ['', [Match.anyValue(), Match.anyValue(), ':log-group:', { Ref: logGroupId }]] },
        ],
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

    it("alarms on throttling of any of the store's calls, even when only one of them throttles", () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Metrics: Match.arrayWith([
          Match.objectLike({
            Expression: 'FILL(batchGetItem, 0) + FILL(getItem, 0) + FILL(putItem, 0) + FILL(updateItem, 0)',
          }),
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

  describe('deployments and dashboard', () => {
    it('rolls a deployment back when the 5xx-rate alarm fires, not only on the circuit breaker', () => {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: 'StreamLimiter-target-5xx-rate',
        Metrics: Match.arrayWith([
          Match.objectLike({
            MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: 'HTTPCode_Target_5XX_Count' }) }),
          }),
        ]),
      });
      template.hasResourceProperties('AWS::ECS::Service', {
        DeploymentConfiguration: Match.objectLike({
          Alarms: { AlarmNames: ['StreamLimiter-target-5xx-rate'], Enable: true, Rollback: true },
          DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        }),
      });
    });

    it('has an operator dashboard: streams, admissions vs rejections, latency, 5xx, write units, throttles, tasks', () => {
      const body = dashboardBody(template);
      for (const title of [
        'Concurrent streams',
        'Admissions vs rejections',
        'Request latency p50 / p99',
        '5xx answers',
        'DynamoDB consumed write units and throttles',
        'Tasks serving',
      ]) {
        expect(body).toContain(title);
      }
      for (const metric of [
        '"StreamLimiter","ConcurrentStreamsEstimate"',
        '"StreamLimiter","Admissions"',
        '"StreamLimiter","Rejections"',
        '"AWS/ApplicationELB","TargetResponseTime"',
        '"AWS/ApplicationELB","HTTPCode_Target_5XX_Count"',
        '"AWS/DynamoDB","ConsumedWriteCapacityUnits"',
        '"AWS/DynamoDB","ThrottledRequests"',
        '"AWS/ApplicationELB","HealthyHostCount"',
      ]) {
        expect(body).toContain(metric);
      }
      expect(body).toContain('"stat":"p50"');
      expect(body).toContain('"stat":"p99"');
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
      ...WITH_CERTIFICATE,
      alarmTopicArn: 'arn:aws:sns:us-east-1:123456789012:stream-limiter-alarms',
      wafRateLimitPerMinute: '300',
      metricsPort: '9100',
      tableName: 'leases-staging',
      minTasks: '3',
      maxTasks: '20',
      streamLimit: '5',
      leaseSeconds: '120',
      logLevel: 'warn',
      dynamoDbTimeoutMs: '5000',
      containerInsights: 'false',
      changeFanout: 'false',
    }).template;
  });

  it('without the fan-out: no stream, reader or Event API, STREAM_EVENTS=off, and a task role with the table statement only', () => {
    template.resourceCountIs('AWS::AppSync::Api', 0);
    template.resourcePropertiesCountIs(
      'AWS::Lambda::Function',
      { Environment: { Variables: Match.objectLike({ EVENTS_HTTP_DNS: Match.anyValue() }) } },
      0,
    );
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 0);
    template.hasResourceProperties('AWS::DynamoDB::Table', { StreamSpecification: Match.absent() });
    const env = containerDefinition(template).Environment as { Name: string; Value: unknown }[];
    expect(env).toContainEqual({ Name: 'STREAM_EVENTS', Value: 'off' });
    expect(env.map((e) => e.Name)).not.toContain('STREAM_EVENTS_URL');
    expect(
      taskRoleStatements(template)
        .flatMap(actionsOf)
        .filter((a) => !a.startsWith('dynamodb:')),
    ).toEqual([]);
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

  it('uses the given WAF rate limit and metrics port', () => {
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Rules: Match.arrayWith([
        Match.objectLike({ Statement: { RateBasedStatement: Match.objectLike({ Limit: 300 }) } }),
      ]),
    });
    expect(containerDefinition(template).Environment).toEqual(
      expect.arrayContaining([{ Name: 'METRICS_PORT', Value: '9100' }]),
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

describe('StreamLimiterStack listener choice', () => {
  it('refuses to synthesize without a certificate or allowHttp, naming both options', () => {
    expect(() => synthStack({})).toThrow(/-c certificateArn=.*or -c allowHttp=true/);
  });

  it('refuses a certificate together with allowHttp', () => {
    expect(() => synthStack({ ...WITH_CERTIFICATE, ...ALLOW_HTTP })).toThrow(/contradict/);
  });

  it('refuses a certificate from another region than the stack', () => {
    expect(() => synthStack({ certificateArn: CERTIFICATE_ARN.replace('us-east-1', 'eu-west-1') })).toThrow(
      /certificate from its own region/,
    );
  });

  it('refuses the same in a stack built from code rather than context', () => {
    const props = { ...DEFAULT_CONFIG, env: { region: 'us-east-1' } };
    expect(() => new StreamLimiterStack(new App(), 'FromCode', props)).toThrow(/-c allowHttp=true/);
  });

  describe('with allowHttp=true', () => {
    let template: Template;

    beforeAll(() => {
      template = synthStack({ ...ALLOW_HTTP }).template;
    });

    it('serves plain HTTP on port 80 only, open to the internet, with no certificate', () => {
      template.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
      template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Port: 80,
        Protocol: 'HTTP',
        DefaultActions: [Match.objectLike({ Type: 'forward' })],
      });
      template.resourcePropertiesCountIs(
        'AWS::ElasticLoadBalancingV2::Listener',
        { Certificates: Match.anyValue() },
        0,
      );
      template.hasResourceProperties('AWS::EC2::SecurityGroup', {
        SecurityGroupIngress: [Match.objectLike({ CidrIp: '0.0.0.0/0', FromPort: 80, ToPort: 80 })],
      });
    });

    it('keeps the web ACL on the load balancer', () => {
      template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
    });
  });
});

describe('StreamLimiterStack authentication', () => {
  const environmentOf = (template: Template) =>
    Object.fromEntries(
      (containerDefinition(template).Environment as { Name: string; Value: unknown }[]).map((e) => [e.Name, e.Value]),
    );

  it('with a JWKS: AUTH_MODE=jwt, the URL, the audience and issuer, and no generated secret', () => {
    const { template } = synthStack({
      ...WITH_CERTIFICATE,
      authJwksUrl: 'https://issuer.example.com/.well-known/jwks.json',
      authJwtAudience: 'streams-api',
      authJwtIssuer: 'https://issuer.example.com/',
    });
    expect(environmentOf(template)).toMatchObject({
      AUTH_MODE: 'jwt',
      AUTH_JWKS_URL: 'https://issuer.example.com/.well-known/jwks.json',
      AUTH_JWT_AUDIENCE: 'streams-api',
      AUTH_JWT_ISSUER: 'https://issuer.example.com/',
    });
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(containerDefinition(template).Secrets).toBeUndefined();
    expect(Object.keys(template.findOutputs('*'))).not.toContain('JwtSecretArn');
  });

  it('with the generated key: issuer and audience are passed when given', () => {
    const { template } = synthStack({ ...WITH_CERTIFICATE, authJwtAudience: 'streams-api', authJwtIssuer: 'me' });
    expect(environmentOf(template)).toMatchObject({
      AUTH_MODE: 'jwt',
      AUTH_JWT_AUDIENCE: 'streams-api',
      AUTH_JWT_ISSUER: 'me',
    });
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
  });

  it('AUTH_MODE=none only with the explicit allowUnauthenticated opt-in, and then with no secret', () => {
    expect(() => synthStack({ ...WITH_CERTIFICATE, authMode: 'none' })).toThrow(/allowUnauthenticated=true/);
    const { template } = synthStack({ ...WITH_CERTIFICATE, authMode: 'none', allowUnauthenticated: 'true' });
    expect(environmentOf(template)).toMatchObject({ AUTH_MODE: 'none' });
    expect(environmentOf(template)).not.toHaveProperty('AUTH_JWT_SECRET');
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
  });
});
