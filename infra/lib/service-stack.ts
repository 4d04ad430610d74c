import * as fs from 'node:fs';
import * as path from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Size, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as ecsPatterns from 'aws-cdk-lib/aws-ecs-patterns';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { ChangeFanout } from './change-fanout';
import { listenerProblem, SERVICE_PORT, type StreamLimiterConfig } from './config';
import { notifyAlarms, OperatorDashboard, storeThrottleAlarm } from './dashboard';
import { EdgeFirewall } from './edge-firewall';
import { generatedJwtSecret } from './jwt-secret';
import { LeaseTable } from './lease-table';

/** The port the service listens on (the contract's PORT default, set explicitly below). */
export const CONTAINER_PORT = SERVICE_PORT;

/**
 * Repository root, the directory holding the service's Dockerfile: the nearest ancestor with
 * an `infra/` directory (this file runs from infra/lib under ts-jest and from infra/dist/lib
 * when compiled).
 */
export const REPO_ROOT = findRepoRoot(__dirname);

function findRepoRoot(from: string): string {
  for (let dir = from; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'infra', 'cdk.json'))) return dir;
  }
  throw new Error(`No repository root (a directory with infra/cdk.json) above ${from}`);
}

/**
 * Paths left out of the Docker build context (on top of any .dockerignore). Besides speed,
 * `infra` must be excluded so cdk.out (inside infra/) never ends up in its own asset hash.
 */
export const IMAGE_EXCLUDES = ['node_modules', 'dist', 'coverage', 'infra', '.git', '.tmp', 'bench/results', '*.log'];

export interface StreamLimiterStackProps extends StackProps, StreamLimiterConfig {
  /** Directory with the Dockerfile to build the image from; defaults to the repository root. */
  readonly imageDirectory?: string;
}

/**
 * The stream limiter on ECS Fargate behind an internet-facing ALB, with its DynamoDB table,
 * JWT secret, autoscaling and alarms. Account-agnostic (nothing is looked up, so it
 * synthesizes offline); the region comes from `props.env` (see lib/config.ts).
 */
export class StreamLimiterStack extends Stack {
  readonly table: dynamodb.Table;
  readonly service: ecsPatterns.ApplicationLoadBalancedFargateService;

  constructor(scope: Construct, id: string, props: StreamLimiterStackProps) {
    super(scope, id, props);

    // Also checked by readConfig; repeated here for stacks built from code rather than context.
    const listenerError = listenerProblem(props.certificateArn, props.allowHttp);
    if (listenerError) throw new Error(listenerError);
    if (props.metricsPort === CONTAINER_PORT) {
      throw new Error(`metricsPort must differ from the service port ${CONTAINER_PORT}`);
    }

    const leases = new LeaseTable(this, 'Leases', { tableName: props.tableName, capacity: props.capacity });
    this.table = leases.table;

    // Two AZs with public subnets only: tasks get a public IP to reach ECR, Secrets Manager
    // and CloudWatch Logs, so there is no NAT gateway (about $33/month each plus $0.045/GB).
    // They are still unreachable from the internet: their security group admits only the ALB.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 }],
    });
    // DynamoDB traffic stays on the AWS network through a (free) gateway endpoint.
    vpc.addGatewayEndpoint('DynamoDb', { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB });
    // Rejected traffic only: enough to see what the security groups turn away, at a fraction
    // of the log volume of ACCEPT records.
    vpc.addFlowLog('FlowLog', {
      trafficType: ec2.FlowLogTrafficType.REJECT,
      destination: ec2.FlowLogDestination.toCloudWatchLogs(
        new logs.LogGroup(this, 'FlowLogGroup', {
          retention: logs.RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      ),
    });

    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: props.containerInsights ? ecs.ContainerInsights.ENABLED : ecs.ContainerInsights.DISABLED,
    });
    if (!props.containerInsights) {
      Validations.of(cluster).acknowledge({
        id: 'AwsSolutions-ECS4',
        reason:
          'Container Insights turned off by context (containerInsights=false) to save its per-metric charge; ' +
          'the service-level CPU and memory metrics ECS publishes for free still drive autoscaling.',
      });
    }

    const jwtSecret =
      props.auth.mode === 'jwt-secret' ? generatedJwtSecret(this, 'the tasks read it only at start') : undefined;

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    const taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });

    // Least privilege: the store's four item calls on this one table (see LeaseTable.STORE_ACTIONS).
    // grantReadWriteData would also allow Delete/BatchWrite/Query/Scan/ConditionCheck, which nothing here needs.
    leases.grantStoreAccess(taskDefinition.taskRole);

    // Pushed evictions (GET /streams/events) for any number of tasks: one reader of the table's
    // stream publishes terminations to an AppSync Events channel the tasks subscribe to; the task
    // role may only connect and subscribe (see lib/change-fanout.ts and docs/change-feed.md).
    const fanout = props.changeFanout
      ? new ChangeFanout(this, 'ChangeFanout', { table: this.table, repoRoot: REPO_ROOT })
      : undefined;
    fanout?.grantSubscribe(taskDefinition.taskRole);

    // Drain timing. The service finishes in-flight requests within DYNAMODB_TIMEOUT_MS + 1 s
    // of SIGTERM (2 s by default). ECS first deregisters a stopping task from the target
    // group and waits out the deregistration delay before it sends SIGTERM; the ALB sends no
    // new requests meanwhile, and since no request outlives the store timeout, a delay of the
    // drain bound plus 3 s of slack (5 s by default) lets in-flight ones finish. The default
    // of 300 s would only make every deployment and scale-in five minutes slower.
    const drainSeconds = Math.ceil((props.dynamoDbTimeoutMs + 1000) / 1000);
    const deregistrationDelaySeconds = drainSeconds + 3;
    // After SIGTERM, ECS waits stopTimeout before SIGKILL: the drain bound plus room to flush
    // logs and exit 0 (Fargate allows up to 120 s).
    const stopTimeoutSeconds = Math.min(120, Math.max(10, drainSeconds + 8));

    const environment: Record<string, string> = {
      PORT: String(CONTAINER_PORT),
      // The ALB reaches the task on its ENI address, so the service must not listen on loopback
      // only. Explicit rather than the service's default for `aws`, so the task does not depend on it.
      HOST: '0.0.0.0',
      // /metrics only on this port (404 on PORT): it is neither in the target group nor in the
      // task security group's ingress, so nothing outside the task reaches it (see the README
      // for scraping it from a sidecar).
      METRICS_PORT: String(props.metricsPort),
      DYNAMODB_ENDPOINT: 'aws',
      DYNAMODB_TABLE: this.table.tableName,
      DYNAMODB_TIMEOUT_MS: String(props.dynamoDbTimeoutMs),
      AWS_REGION: this.region,
      // Exactly one proxy hop (the ALB), so rate limits and logs see the player's address
      // from X-Forwarded-For and a player cannot spoof it with an extra entry.
      TRUST_PROXY: '1',
      ...authEnvironment(props.auth),
      LOG_LEVEL: props.logLevel,
      // Business metrics as EMF lines on stdout; the awslogs driver ships them and CloudWatch
      // extracts them into the StreamLimiter namespace the dashboard reads.
      METRICS_EMF: 'true',
      // Explicit either way: the service's default for `aws` is off.
      ...(fanout
        ? { STREAM_EVENTS: 'appsync', STREAM_EVENTS_URL: `wss://${fanout.api.realtimeDns}/event/realtime` }
        : { STREAM_EVENTS: 'off' }),
    };
    if (props.streamLimit !== undefined) environment.STREAM_LIMIT = String(props.streamLimit);
    if (props.leaseSeconds !== undefined) environment.LEASE_SECONDS = String(props.leaseSeconds);

    taskDefinition.addContainer('app', {
      // Built from the repository's Dockerfile by `cdk deploy` (needs Docker there) and pushed
      // to the bootstrap ECR repository. Pinned to amd64 to match runtimePlatform even when
      // deploying from an arm64 laptop.
      image: ecs.ContainerImage.fromAsset(props.imageDirectory ?? REPO_ROOT, {
        exclude: IMAGE_EXCLUDES,
        platform: Platform.LINUX_AMD64,
      }),
      // The service port only: METRICS_PORT gets no mapping, so no load balancer or service
      // discovery can ever be pointed at it by accident.
      portMappings: [{ containerPort: CONTAINER_PORT }],
      environment,
      ...(jwtSecret ? { secrets: { AUTH_JWT_SECRET: ecs.Secret.fromSecretsManager(jwtSecret) } } : {}),
      // Nothing in the image can be changed at run time: the service writes only to stdout and
      // the network (logs go to CloudWatch through the log driver), so no writable path is
      // mounted at all. scripts/container-test.sh runs the image the same way.
      readonlyRootFilesystem: true,
      logging: ecs.LogDrivers.awsLogs({
        logGroup,
        streamPrefix: 'stream-limiter',
        // A slow CloudWatch Logs must not block the event loop on stdout writes; if the
        // buffer ever fills, log lines are dropped rather than requests delayed.
        mode: ecs.AwsLogDriverMode.NON_BLOCKING,
        maxBufferSize: Size.mebibytes(25),
      }),
      stopTimeout: Duration.seconds(stopTimeoutSeconds),
      // No container health check: ECS ignores the Dockerfile's HEALTHCHECK, and the target
      // group's /healthz check already replaces tasks that stop answering.
    });
    // Acknowledged on the execution role alone, so a wildcard ever added to the task role
    // (what the service runs as) would still fail the check.
    Validations.of(taskDefinition.obtainExecutionRole()).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken, which CDK grants the execution role to pull the image asset, has no ' +
        "resource-level permissions; the role's other grants (image repository, log group, secret) are scoped.",
    });
    Validations.of(taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The plain environment variables are non-secret settings (endpoint mode, table name, region, limits, ' +
        'JWKS URL and audience, event API endpoint); the only secret, AUTH_JWT_SECRET when used, is injected from Secrets Manager.',
    });

    const accessLogs = new s3.Bucket(this, 'AlbAccessLogs', {
      // ALB log delivery supports SSE-S3 only, not SSE-KMS.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket only receives ALB access logs; logging access to it would need yet another bucket, and ' +
        'CloudTrail already records management access to it.',
    });

    const loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc,
      internetFacing: true,
      // Refuse requests with header names that are not valid HTTP, a request-smuggling vector.
      dropInvalidHeaderFields: true,
    });
    loadBalancer.logAccessLogs(accessLogs, 'alb');
    const albSecurityGroup = loadBalancer.connections.securityGroups[0];
    if (albSecurityGroup) {
      Validations.of(albSecurityGroup).acknowledge({
        id: 'AwsSolutions-EC23',
        reason:
          'Internet-facing load balancer for video players anywhere: its listeners must accept 0.0.0.0/0. ' +
          'Tasks are not exposed; their security group admits only this load balancer.',
      });
    }

    // AWS WAF in front of the ALB: a per-address rate limit across all tasks and AWS's common
    // rule set (see lib/edge-firewall.ts).
    new EdgeFirewall(this, 'EdgeFirewall', {
      loadBalancer,
      rateLimitPerMinute: props.wafRateLimitPerMinute,
    });

    const certificate = props.certificateArn
      ? acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn)
      : undefined;

    this.service = new ecsPatterns.ApplicationLoadBalancedFargateService(this, 'Service', {
      cluster,
      taskDefinition,
      loadBalancer,
      // With a certificate: HTTPS on 443 and a redirect from 80, with the TLS 1.3/1.2
      // post-quantum policy CDK picks by default (feature flag in cdk.json). Without one, plain
      // HTTP on 80, which the constructor only allows with an explicit allowHttp=true.
      ...(certificate
        ? {
            certificate,
            protocol: elbv2.ApplicationProtocol.HTTPS,
            redirectHTTP: true,
          }
        : { protocol: elbv2.ApplicationProtocol.HTTP }),
      // The listeners must accept players from anywhere. Explicit because, with a load balancer
      // passed in, the pattern otherwise leaves its security group closed to the internet.
      openListener: true,
      desiredCount: props.minTasks,
      // Public subnets without NAT (see the VPC above): a task needs a public IP to pull its image.
      assignPublicIp: true,
      taskSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      // Never drop below the running count during a deployment; roll back a deployment whose
      // tasks fail to become healthy instead of retrying forever.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      healthCheckGracePeriod: Duration.seconds(30),
    });

    // /healthz answers 200 while the process runs; a task that stops answering is replaced.
    // (/readyz would also fail every task at once whenever DynamoDB has a bad minute, and the
    // ALB would then route to all of them anyway.)
    this.service.targetGroup.configureHealthCheck({
      path: '/healthz',
      healthyHttpCodes: '200',
      interval: Duration.seconds(10),
      timeout: Duration.seconds(5),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 3,
    });
    this.service.targetGroup.setAttribute('deregistration_delay.timeout_seconds', String(deregistrationDelaySeconds));

    const scaling = this.service.service.autoScaleTaskCount({
      minCapacity: props.minTasks,
      maxCapacity: props.maxTasks,
    });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: props.cpuTargetPercent,
      scaleOutCooldown: Duration.seconds(60),
      scaleInCooldown: Duration.seconds(300),
    });
    // Requests per task per minute: heartbeats arrive at a steady rate per live stream, so
    // request count tracks audience size more directly than CPU does. The default (6000/min,
    // 100 req/s per 0.25 vCPU task) is an estimate; calibrate it with the benchmark. Scale-out
    // follows whichever policy asks for more tasks, scale-in only when both agree.
    scaling.scaleOnRequestCount('Requests', {
      requestsPerTarget: props.requestsPerTarget,
      targetGroup: this.service.targetGroup,
      scaleOutCooldown: Duration.seconds(60),
      scaleInCooldown: Duration.seconds(300),
    });

    this.addAlarms(props);
    // A deployment whose new tasks answer 5xx is rolled back, not only one whose tasks never
    // become healthy (the circuit breaker): a task can pass /healthz and still fail every request.
    // By its literal name: `alarm.alarmName` is a reference to the alarm, and the alarm depends on
    // the target group the service also depends on.
    this.service.service.enableDeploymentAlarms([errorRateAlarmName(this.stackName)], {
      behavior: ecs.AlarmBehavior.ROLLBACK_ON_ALARM,
    });

    const targetGroup = this.service.targetGroup;
    new OperatorDashboard(this, 'Operations', {
      table: this.table,
      latency: (statistic) =>
        targetGroup.metrics.targetResponseTime({
          period: Duration.minutes(1),
          statistic,
          label: `Target response ${statistic}`,
        }),
      serverErrors: targetGroup.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
        period: Duration.minutes(1),
        statistic: 'Sum',
        label: 'Target 5xx',
      }),
      capacity: {
        title: 'Tasks serving (healthy targets) and CPU',
        metrics: [
          targetGroup.metrics.healthyHostCount({
            period: Duration.minutes(1),
            statistic: 'Maximum',
            label: 'Healthy tasks',
          }),
          this.service.service.metricCpuUtilization({ period: Duration.minutes(1), label: 'CPU % (service average)' }),
        ],
      },
    });

    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    if (jwtSecret) {
      new CfnOutput(this, 'JwtSecretArn', {
        value: jwtSecret.secretArn,
        description: 'Secrets Manager secret holding AUTH_JWT_SECRET; token issuers sign with its value',
      });
    }
  }

  private addAlarms(props: StreamLimiterStackProps): void {
    const targetGroup = this.service.targetGroup;
    const minute = Duration.minutes(1);
    const alarms: cloudwatch.Alarm[] = [];

    // 5xx answered by the service (STORE_UNAVAILABLE 503s, INTERNAL 500s) as a share of all
    // requests, so a quiet night with two errors does not page anyone.
    const errorRate = new cloudwatch.MathExpression({
      label: 'Target 5xx (% of requests)',
      expression: 'IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)',
      usingMetrics: {
        errors: targetGroup.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
          period: minute,
          statistic: 'Sum',
        }),
        requests: targetGroup.metrics.requestCount({ period: minute, statistic: 'Sum' }),
      },
      period: minute,
    });
    const errorRateAlarm = errorRate.createAlarm(this, 'Target5xxRateAlarm', {
      // A name of our own, so the deployment configuration can name it (see enableDeploymentAlarms).
      alarmName: errorRateAlarmName(this.stackName),
      alarmDescription: 'More than 5% of requests answered 5xx by the stream limiter in 3 of the last 5 minutes',
      threshold: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarms.push(errorRateAlarm);

    // One store call per request, bounded by DYNAMODB_TIMEOUT_MS: a slow p99 means DynamoDB
    // latency, retries or CPU starvation well before requests start failing.
    const p99Seconds = Math.min(0.5, props.dynamoDbTimeoutMs / 2000);
    alarms.push(
      targetGroup.metrics
        .targetResponseTime({ period: minute, statistic: 'p99' })
        .createAlarm(this, 'P99LatencyAlarm', {
          alarmDescription: `p99 target response time above ${p99Seconds * 1000} ms in 3 of the last 5 minutes`,
          threshold: p99Seconds,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 3,
          treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        }),
    );

    alarms.push(storeThrottleAlarm(this, this.table));

    notifyAlarms(this, alarms, props.alarmTopicArn);
  }
}

/** The 5xx-rate alarm's name, which deployments roll back on. */
function errorRateAlarmName(stackName: string): string {
  return `${stackName}-target-5xx-rate`;
}

/** AUTH_MODE and its plain settings; the HS256 key itself comes in as a secret, never here. */
export function authEnvironment(auth: StreamLimiterConfig['auth']): Record<string, string> {
  switch (auth.mode) {
    case 'none':
      return { AUTH_MODE: 'none' };
    case 'jwt-secret':
      return {
        AUTH_MODE: 'jwt',
        ...(auth.issuer ? { AUTH_JWT_ISSUER: auth.issuer } : {}),
        ...(auth.audience ? { AUTH_JWT_AUDIENCE: auth.audience } : {}),
      };
    case 'jwt-jwks':
      return {
        AUTH_MODE: 'jwt',
        AUTH_JWKS_URL: auth.jwksUrl,
        AUTH_JWT_AUDIENCE: auth.audience,
        ...(auth.issuer ? { AUTH_JWT_ISSUER: auth.issuer } : {}),
      };
  }
}
