import * as path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as appsync from 'aws-cdk-lib/aws-appsync';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/** The channel namespace terminations are published to (src/events/fanout-handler.ts: /terminations/all). */
const NAMESPACE = 'terminations';

export interface ChangeFanoutProps {
  readonly table: dynamodb.Table;
  /** Repository root (src/events/fanout-handler.ts is bundled from it). */
  readonly repoRoot: string;
}

/**
 * Pushed evictions for a fleet (see docs/change-feed.md). A DynamoDB stream shard serves about two
 * concurrent readers, so tasks cannot each read the table's stream. Instead exactly one reader, a
 * Lambda event source mapping, decodes each change and publishes only the terminations to an
 * AppSync Events API; every task subscribes to its channel, however many tasks there are.
 */
export class ChangeFanout extends Construct {
  readonly api: appsync.EventApi;
  readonly publisher: nodejs.NodejsFunction;
  private readonly namespaceArn: string;

  constructor(scope: Construct, id: string, props: ChangeFanoutProps) {
    super(scope, id);

    // The table's change log, with both images: a termination is a lease gone from the new image
    // with its record in the ring. Set on the L1 so lease-table.ts (and its logical id) stay untouched.
    const cfnTable = props.table.node.defaultChild as dynamodb.CfnTable;
    cfnTable.streamSpecification = { streamViewType: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES };

    // IAM only: the tasks (subscribe) and the publisher (publish) sign with their roles; no API key.
    const iamOnly = [{ authorizationType: appsync.AppSyncAuthorizationType.IAM }];
    this.api = new appsync.EventApi(this, 'Api', {
      apiName: 'stream-limiter-terminations',
      authorizationConfig: {
        authProviders: iamOnly,
        connectionAuthModeTypes: [appsync.AppSyncAuthorizationType.IAM],
        defaultPublishAuthModeTypes: [appsync.AppSyncAuthorizationType.IAM],
        defaultSubscribeAuthModeTypes: [appsync.AppSyncAuthorizationType.IAM],
      },
    });
    this.api.addChannelNamespace(NAMESPACE);
    this.namespaceArn = `${this.api.apiArn}/channelNamespace/${NAMESPACE}`;

    const logGroup = new logs.LogGroup(this, 'PublisherLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role without AWS-managed policies: write to its log group, read the stream, publish.
    const role = new iam.Role(this, 'PublisherRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    logGroup.grantWrite(role);
    this.publisher = new nodejs.NodejsFunction(this, 'Publisher', {
      role,
      entry: path.join(props.repoRoot, 'src', 'events', 'fanout-handler.ts'),
      handler: 'handler',
      projectRoot: props.repoRoot,
      depsLockFilePath: path.join(props.repoRoot, 'package-lock.json'),
      // Node 22, as the service and its Lambda deployment target (see the acknowledgment below).
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 256,
      timeout: Duration.seconds(30),
      logGroup,
      environment: { EVENTS_HTTP_DNS: this.api.httpDns },
      bundling: { forceDockerBundling: false, target: 'node22', minify: true, sourceMap: true },
    });
    role.addToPolicy(new iam.PolicyStatement({ actions: ['appsync:EventPublish'], resources: [this.namespaceArn] }));
    Validations.of(this.publisher).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Pinned to Node 22, the runtime the service is built and tested for; moved with the service, not ahead of it.',
    });

    this.publisher.addEventSourceMapping('TableStream', {
      eventSourceArn: cfnTable.attrStreamArn,
      // LATEST: a kick older than the deployment concerns players long gone.
      startingPosition: lambda.StartingPosition.LATEST,
      batchSize: 100,
      // No batching window: latency, not invocations, is what players feel (p99 under 2 s).
      maxBatchingWindow: Duration.seconds(0),
      // Only updates can end a lease with a termination; inserts and TTL deletions never do.
      filters: [lambda.FilterCriteria.filter({ eventName: lambda.FilterRule.isEqual('MODIFY') })],
      // A kick older than a minute is no longer worth pushing: the player's heartbeat has said it (410).
      maxRecordAge: Duration.seconds(60),
      retryAttempts: 2,
      bisectBatchOnError: true,
      parallelizationFactor: 1,
    });
    // The mapping needs the stream's read actions; the table's L2 does not know its stream ARN.
    role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'dynamodb:DescribeStream',
          'dynamodb:GetRecords',
          'dynamodb:GetShardIterator',
          'dynamodb:ListStreams',
        ],
        resources: [cfnTable.attrStreamArn],
      }),
    );
  }

  /** Lets a task's role connect and subscribe to the terminations channel. */
  grantSubscribe(grantee: iam.IGrantable): void {
    iam.Grant.addToPrincipal({ grantee, actions: ['appsync:EventConnect'], resourceArns: [this.api.apiArn] });
    iam.Grant.addToPrincipal({ grantee, actions: ['appsync:EventSubscribe'], resourceArns: [this.namespaceArn] });
  }
}
