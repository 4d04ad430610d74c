import { Match, type Template } from 'aws-cdk-lib/assertions';
import { STORE_ACTIONS } from '../lib/lease-table';
import { synthServerlessStack, synthStack, WITH_CERTIFICATE, type SynthesizedServerless } from './support/synth';
import { dashboardBody } from './support/template';

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };
const actionsOf = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);

function statementsOf(template: Template): Statement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (p) => (p as { Properties: { PolicyDocument: { Statement: Statement[] } } }).Properties.PolicyDocument.Statement,
  );
}

function functionEnvironment(template: Template): Record<string, unknown> {
  const functions = Object.values(template.findResources('AWS::Lambda::Function'));
  expect(functions).toHaveLength(1);
  return (functions[0] as { Properties: { Environment: { Variables: Record<string, unknown> } } }).Properties
    .Environment.Variables;
}

describe('StreamLimiterServerlessStack (defaults)', () => {
  let synthesized: SynthesizedServerless;
  let template: Template;
  let tableLogicalId: string;

  beforeAll(() => {
    synthesized = synthServerlessStack();
    template = synthesized.template;
    tableLogicalId = synthesized.stack.getLogicalId(synthesized.stack.table.node.defaultChild as never);
  });

  it('builds its table from the same LeaseTable construct, under the same construct id, with its own name', () => {
    expect(tableLogicalId).toBe('LeasesTableFEA91EF2');
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: 'stream-leases-serverless',
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'userId', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'gcAt', Enabled: true },
      DeletionProtectionEnabled: true,
    });
    template.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain' });
  });

  it('runs Node.js 22 on arm64 with reserved concurrency as the cost ceiling', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      MemorySize: 512,
      ReservedConcurrentExecutions: 50,
      Handler: 'dist/http/routes/index.handler',
      Timeout: 7,
    });
  });

  it('configures the service for the AWS table with EMF metrics on and explicit JWT auth', () => {
    expect(functionEnvironment(template)).toMatchObject({
      DYNAMODB_ENDPOINT: 'aws',
      DYNAMODB_TABLE: { Ref: tableLogicalId },
      DYNAMODB_TIMEOUT_MS: '1000',
      METRICS_EMF: 'true',
      AUTH_MODE: 'jwt',
    });
    // A dynamic reference CloudFormation resolves at deploy time; never the key itself.
    const secret = JSON.stringify(functionEnvironment(template).AUTH_JWT_SECRET);
    expect(secret).toContain('{{resolve:secretsmanager:');
    // No BASE_PATH: the stage comes from the event (src/lambda.ts).
    expect(functionEnvironment(template)).not.toHaveProperty('BASE_PATH');
    // Lambda sets AWS_REGION itself and refuses it in a function's environment.
    expect(functionEnvironment(template)).not.toHaveProperty('AWS_REGION');
  });

  it("grants exactly the store's actions on its table, and log writes on its own log group only", () => {
    const statements = statementsOf(template);
    const dynamo = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toHaveLength(1);
    expect(dynamo[0]).toMatchObject({ Effect: 'Allow', Resource: { 'Fn::GetAtt': [tableLogicalId, 'Arn'] } });
    expect([...actionsOf(dynamo[0] as Statement)].sort()).toEqual([...STORE_ACTIONS].sort());
    for (const statement of statements) {
      expect(JSON.stringify(statement.Resource)).not.toBe('"*"');
    }
    // No managed policy (AWSLambdaBasicExecutionRole would allow writing to any log group).
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'lambda.amazonaws.com' } })],
      }),
      ManagedPolicyArns: Match.absent(),
    });
  });

  it('keeps function and access logs for a month', () => {
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(groups.length).toBeGreaterThanOrEqual(2);
    for (const group of groups)
      expect((group as { Properties: { RetentionInDays: number } }).Properties.RetentionInDays).toBe(30);
  });

  it('serves an HTTP API with a dev stage, throttled, access-logged, every route to the function', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'dev',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
    });
    template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
  });

  it('alarms on the API 5xx rate, throttled invokes, p99 latency and DynamoDB throttles', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 5,
      Metrics: Match.arrayWith([
        Match.objectLike({ MetricStat: Match.objectLike({ Metric: Match.objectLike({ MetricName: '5xx' }) }) }),
      ]),
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Throttles', Namespace: 'AWS/Lambda' });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Latency',
      ExtendedStatistic: 'p99',
      Threshold: 500,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Metrics: Match.arrayWith([
        Match.objectLike({
          Expression: 'FILL(batchGetItem, 0) + FILL(getItem, 0) + FILL(putItem, 0) + FILL(updateItem, 0)',
        }),
      ]),
    });
  });

  it('has an operator dashboard: streams, admissions vs rejections, latency, 5xx, write units, throttles, concurrency', () => {
    const body = dashboardBody(template);
    for (const metric of [
      '"StreamLimiter","ConcurrentStreamsEstimate"',
      '"StreamLimiter","Admissions"',
      '"StreamLimiter","Rejections"',
      '"AWS/ApiGateway","Latency"',
      '"AWS/ApiGateway","5xx"',
      '"AWS/DynamoDB","ConsumedWriteCapacityUnits"',
      '"AWS/DynamoDB","ThrottledRequests"',
      '"AWS/Lambda","ConcurrentExecutions"',
    ]) {
      expect(body).toContain(metric);
    }
    expect(body).toContain('"stat":"p50"');
    expect(body).toContain('"stat":"p99"');
    expect(body).toContain(`"Table","<${tableLogicalId}>"`);
  });

  it('outputs the base URL with the stage, so clients call <ApiUrl>/streams/add', () => {
    const outputs = template.findOutputs('ApiUrl');
    expect(JSON.stringify(outputs)).toContain('/dev');
  });
});

describe('StreamLimiterServerlessStack options', () => {
  it('takes memory, reserved concurrency, stage, throttle and table name from context', () => {
    const { template } = synthServerlessStack({
      lambdaMemoryMiB: '1024',
      reservedConcurrency: '5',
      apiStageName: 'prod',
      apiThrottleRatePerSecond: '50',
      apiThrottleBurst: '100',
      serverlessTableName: 'leases-lambda',
      authMode: 'none',
      allowUnauthenticated: 'true',
    });
    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 1024, ReservedConcurrentExecutions: 5 });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'prod',
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
    template.hasResourceProperties('AWS::DynamoDB::Table', { TableName: 'leases-lambda' });
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const env = functionEnvironment(template);
    expect(env.AUTH_MODE).toBe('none');
    expect(env).not.toHaveProperty('AUTH_JWT_SECRET');
  });

  it('needs no listener choice (it has no load balancer)', () => {
    expect(() => synthServerlessStack({ certificateArn: undefined, allowHttp: undefined })).not.toThrow();
  });
});

describe('table capacity (both stacks)', () => {
  it.each([
    [
      'ECS',
      () =>
        synthStack({ ...WITH_CERTIFICATE, capacity: 'provisioned', minWriteUnits: '10', maxWriteUnits: '400' })
          .template,
    ],
    [
      'Lambda',
      () => synthServerlessStack({ capacity: 'provisioned', minWriteUnits: '10', maxWriteUnits: '400' }).template,
    ],
  ])('%s: provisioned capacity tracks write utilisation between the floor and the ceiling', (_name, synth) => {
    const template = synth();
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: Match.absent(),
      ProvisionedThroughput: { WriteCapacityUnits: 10, ReadCapacityUnits: 5 },
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      ScalableDimension: 'dynamodb:table:WriteCapacityUnits',
      MinCapacity: 10,
      MaxCapacity: 400,
    });
    template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: Match.objectLike({
        PredefinedMetricSpecification: { PredefinedMetricType: 'DynamoDBWriteCapacityUtilization' },
        TargetValue: 70,
      }),
    });
  });

  it('is on-demand by default, with no autoscaling', () => {
    const { template } = synthServerlessStack();
    template.hasResourceProperties('AWS::DynamoDB::Table', { BillingMode: 'PAY_PER_REQUEST' });
    template.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 0);
  });

  it.each([
    [{ capacity: 'reserved' }, /capacity.*on-demand or provisioned/],
    [{ minWriteUnits: '5' }, /minWriteUnits.*only applies with capacity=provisioned/],
    [{ capacity: 'provisioned', minWriteUnits: '50', maxWriteUnits: '10' }, /maxWriteUnits.*at least minWriteUnits/],
    [{ capacity: 'provisioned', writeTargetPercent: '95' }, /writeTargetPercent/],
  ])('refuses %j', (context, message) => {
    expect(() => synthServerlessStack(context)).toThrow(message);
  });
});
