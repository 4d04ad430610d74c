import * as path from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { ServerlessConfig } from './config';
import { generatedJwtSecret } from './jwt-secret';
import { notifyAlarms, OperatorDashboard, storeThrottleAlarm } from './dashboard';
import { LeaseTable } from './lease-table';
import { authEnvironment, REPO_ROOT } from './service-stack';

export type StreamLimiterServerlessStackProps = StackProps & Omit<ServerlessConfig, 'stackName' | 'region'>;

/**
 * Where the bundle puts the handler. The app finds its files relative to its own module
 * (demo/ three levels up from dist/http/routes, package.json two up from dist/http), as in the
 * compiled layout; one bundle has one __dirname, so it sits where those paths still hold.
 */
const BUNDLE_DIR = 'dist/http/routes';

/**
 * The stream limiter as the original service ran: a Lambda function behind an API Gateway
 * HTTP API with a `dev` stage, on its own DynamoDB table (the same LeaseTable construct as the
 * ECS stack). Nothing runs, and nearly nothing is paid, while nobody plays.
 */
export class StreamLimiterServerlessStack extends Stack {
  readonly table: dynamodb.Table;
  readonly function: nodejs.NodejsFunction;
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;

  constructor(scope: Construct, id: string, props: StreamLimiterServerlessStackProps) {
    super(scope, id, props);

    const leases = new LeaseTable(this, 'Leases', { tableName: props.tableName, capacity: props.capacity });
    this.table = leases.table;

    const jwtSecret =
      props.auth.mode === 'jwt-secret'
        ? generatedJwtSecret(this, 'the function reads it only when deployed')
        : undefined;

    const logGroup = new logs.LogGroup(this, 'FunctionLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Our own role instead of AWSLambdaBasicExecutionRole (which may write to any log group):
    // this function writes to its one log group and calls the store's four actions on its one table.
    const role = new iam.Role(this, 'FunctionRole', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Stream limiter function: its log group and the lease table, nothing else',
    });
    logGroup.grantWrite(role);
    leases.grantStoreAccess(role);

    const drainSeconds = Math.ceil((props.dynamoDbTimeoutMs + 1000) / 1000);
    const environment: Record<string, string> = {
      DYNAMODB_ENDPOINT: 'aws',
      DYNAMODB_TABLE: this.table.tableName,
      DYNAMODB_TIMEOUT_MS: String(props.dynamoDbTimeoutMs),
      // AWS_REGION is set by Lambda itself (and may not be overridden).
      ...authEnvironment(props.auth),
      LOG_LEVEL: props.logLevel,
      METRICS_EMF: 'true',
      // The per-client limit inside one container of many means little; the stage's throttle and
      // reserved concurrency bound the whole API instead (see infra/README.md).
      RATE_LIMIT_PER_MINUTE: '0',
      NODE_OPTIONS: '--enable-source-maps',
    };
    if (props.streamLimit !== undefined) environment.STREAM_LIMIT = String(props.streamLimit);
    if (props.leaseSeconds !== undefined) environment.LEASE_SECONDS = String(props.leaseSeconds);
    if (jwtSecret) {
      // Resolved by CloudFormation at deploy time into the function's encrypted configuration;
      // the template holds only the dynamic reference, never the key.
      environment.AUTH_JWT_SECRET = jwtSecret.secretValue.unsafeUnwrap();
    }

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: path.join(REPO_ROOT, 'src', 'lambda.ts'),
      handler: `${BUNDLE_DIR}/index.handler`,
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memoryMiB,
      // A request is bounded by the store timeout; the rest is start-up room for a cold container.
      timeout: Duration.seconds(drainSeconds + 5),
      reservedConcurrentExecutions: props.reservedConcurrency,
      role,
      logGroup,
      environment,
      bundling: {
        // The local esbuild from node_modules: synth never needs Docker.
        forceDockerBundling: false,
        target: 'node22',
        format: nodejs.OutputFormat.CJS,
        minify: true,
        sourceMap: true,
        // The SDK the service pins is bundled, not the runtime's: same client code in both stacks.
        // swagger-ui-dist is only located (require.resolve) for its static files, copied below.
        externalModules: ['swagger-ui-dist', 'video.js'],
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          // Files the app reads at run time, placed where its module-relative paths look for them.
          afterBundling: (inputDir: string, outputDir: string) => [
            `mkdir -p "${outputDir}/${BUNDLE_DIR}" "${outputDir}/node_modules/swagger-ui-dist" "${outputDir}/node_modules/video.js/dist"`,
            `mv "${outputDir}/index.js" "${outputDir}/index.js.map" "${outputDir}/${BUNDLE_DIR}/"`,
            `cp "${inputDir}/package.json" "${outputDir}/dist/package.json"`,
            `cp -R "${inputDir}/demo" "${outputDir}/demo"`,
            `cd "${inputDir}/node_modules/swagger-ui-dist" && cp package.json swagger-ui.css swagger-ui-bundle.js favicon-32x32.png "${outputDir}/node_modules/swagger-ui-dist/"`,
            // The demo page's script, bundled with the SDK and the Video.js plugin by `npm run build`
            // (demo/build.js), and Video.js's own files, which the demo route locates by require.resolve.
            `cp -R "${inputDir}/dist/demo" "${outputDir}/dist/demo"`,
            `cd "${inputDir}/node_modules/video.js" && cp package.json "${outputDir}/node_modules/video.js/" && cp dist/video.min.js dist/video-js.min.css "${outputDir}/node_modules/video.js/dist/"`,
          ],
        },
      },
    });
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 on purpose: @codegenie/serverless-express 4.17, which serves the Express app, supports it and its ' +
        '5.x line needs Node.js 24; the ECS image runs the same major, so both stacks run one runtime.',
    });

    const integration = new HttpLambdaIntegration('Service', this.function, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    });
    // HTTP API rather than REST API: about a third of the price per request, lower latency, and
    // the 2.0 payload; what it lacks (WAF, usage plans) is discussed in infra/README.md.
    this.api = new apigwv2.HttpApi(this, 'Api', {
      description: 'Concurrent video-stream limiter (Lambda)',
      createDefaultStage: false,
      defaultIntegration: integration,
    });

    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = this.api.addStage('Stage', {
      stageName: props.stageName,
      autoDeploy: true,
      // Stage-wide: a flood of requests is answered 429 by API Gateway before it costs invokes.
      throttle: { rateLimit: props.throttleRatePerSecond, burstLimit: props.throttleBurst },
      accessLogSettings: { destination: new apigwv2.LogGroupLogDestination(accessLogs) },
    });

    const defaultRoute = this.api.node.tryFindChild('DefaultRoute');
    if (defaultRoute) {
      Validations.of(defaultRoute).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'The service authenticates every /streams and /users request itself (AUTH_MODE=jwt, bearer tokens checked ' +
          'in the contract order after the rate limit), and /healthz, /docs and /openapi.json are public by contract.',
      });
    }

    const stageErrors = this.stage.metricServerError({
      period: Duration.minutes(1),
      statistic: 'Sum',
      label: 'API 5xx',
    });
    this.addAlarms(props, stageErrors);

    new OperatorDashboard(this, 'Operations', {
      table: this.table,
      latency: (statistic) =>
        this.stage.metricLatency({ period: Duration.minutes(1), statistic, label: `API latency ${statistic}` }),
      serverErrors: stageErrors,
      capacity: {
        title: 'Lambda concurrency (of the reserved ceiling) and throttles',
        metrics: [
          this.function.metric('ConcurrentExecutions', {
            period: Duration.minutes(1),
            statistic: 'Maximum',
            label: 'Concurrent executions',
          }),
          this.function.metricThrottles({ period: Duration.minutes(1), statistic: 'Sum', label: 'Throttled invokes' }),
        ],
      },
    });

    new CfnOutput(this, 'ApiUrl', {
      value: `${this.api.apiEndpoint}/${props.stageName}`,
      description: 'Base URL of the API, stage included: POST <ApiUrl>/streams/add',
    });
    new CfnOutput(this, 'TableName', { value: this.table.tableName });
    if (jwtSecret) new CfnOutput(this, 'JwtSecretArn', { value: jwtSecret.secretArn });
  }

  private addAlarms(props: StreamLimiterServerlessStackProps, stageErrors: cloudwatch.IMetric): void {
    const minute = Duration.minutes(1);
    const alarms: cloudwatch.Alarm[] = [];

    const errorRate = new cloudwatch.MathExpression({
      label: 'API 5xx (% of requests)',
      expression: 'IF(requests > 0, 100 * FILL(errors, 0) / requests, 0)',
      usingMetrics: { errors: stageErrors, requests: this.stage.metricCount({ period: minute, statistic: 'Sum' }) },
      period: minute,
    });
    alarms.push(
      errorRate.createAlarm(this, 'Api5xxRateAlarm', {
        alarmDescription:
          'More than 5% of requests answered 5xx (by the function or API Gateway) in 3 of the last 5 minutes',
        threshold: 5,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 5,
        datapointsToAlarm: 3,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    // Throttled invokes: the reserved concurrency (the cost guard) is too low for the audience,
    // and players get 5xx from API Gateway.
    alarms.push(
      this.function.metricThrottles({ period: minute, statistic: 'Sum' }).createAlarm(this, 'ThrottleAlarm', {
        alarmDescription: 'Invokes throttled at the reserved concurrency: raise reservedConcurrency or find the flood',
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    );
    const p99Ms = Math.min(500, props.dynamoDbTimeoutMs / 2);
    alarms.push(
      this.stage.metricLatency({ period: minute, statistic: 'p99' }).createAlarm(this, 'P99LatencyAlarm', {
        alarmDescription: `p99 API latency above ${p99Ms} ms in 3 of the last 5 minutes`,
        threshold: p99Ms,
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
