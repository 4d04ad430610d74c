import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { STORE_ACTIONS } from './lease-table';

/**
 * Throttled requests on the lease table summed over every call the store makes (the task role's
 * STORE_ACTIONS), each FILLed with 0: DynamoDB publishes the metric only for an operation that
 * throttled, so a plain sum would have no datapoint unless all of them throttled in one period.
 */
export function throttledStoreRequests(table: dynamodb.ITable, period: Duration): cloudwatch.MathExpression {
  const operations = STORE_ACTIONS.map((action) => action.replace(/^dynamodb:/, ''));
  const id = (operation: string) => operation.charAt(0).toLowerCase() + operation.slice(1);
  return new cloudwatch.MathExpression({
    label: `Throttled ${operations.join(' + ')}`,
    expression: operations.map((operation) => `FILL(${id(operation)}, 0)`).join(' + '),
    usingMetrics: Object.fromEntries(
      operations.map((operation) => [
        id(operation),
        table.metric('ThrottledRequests', {
          dimensionsMap: { TableName: table.tableName, Operation: operation },
          period,
          statistic: 'Sum',
        }),
      ]),
    ),
    period,
  });
}

/**
 * The service's EMF metrics (src/observability/emf.ts writes them with METRICS_EMF=true). Kept
 * here as plain names because infra builds on its own; test/unit/emf-names.test.ts holds the
 * two lists equal.
 */
export const EMF = {
  namespace: 'StreamLimiter',
  admissions: 'Admissions',
  rejections: 'Rejections',
  evictions: 'Evictions',
  terminations: 'Terminations',
  degradedAdmissions: 'DegradedAdmissions',
  heartbeats: 'Heartbeats',
  concurrentStreams: 'ConcurrentStreamsEstimate',
  storeErrors: 'StoreErrors',
  dynamoCalls: 'DynamoDbCalls',
  dynamoLatency: 'DynamoDbLatency',
  dynamoWriteUnits: 'DynamoDbWriteUnits',
} as const;

/** The store's failure kinds, as the StoreErrors metric's Kind dimension carries them. */
export const STORE_ERROR_KINDS = ['timeout', 'throttled', 'unreachable', 'missing-table', 'error'] as const;

export interface OperatorDashboardProps {
  readonly dashboardName?: string;
  readonly table: dynamodb.Table;
  /** Request latency at the entry point (ALB target response time, or API Gateway latency). */
  readonly latency: (statistic: 'p50' | 'p99') => cloudwatch.IMetric;
  /** 5xx answers at the entry point. */
  readonly serverErrors: cloudwatch.IMetric;
  /** What the compute scales by: running tasks, or Lambda concurrency. */
  readonly capacity: { readonly title: string; readonly metrics: cloudwatch.IMetric[] };
}

const MINUTE = Duration.minutes(1);

/**
 * One page an operator opens first: audience (concurrent streams), decisions (admissions vs
 * rejections), the player's view (latency, 5xx), the store (write units, throttles, errors)
 * and the compute. Every stack gets the same layout, fed by its own entry point's metrics.
 */
export class OperatorDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: OperatorDashboardProps) {
    super(scope, id);
    const { table } = props;
    const emf = (metricName: string, extra: Record<string, string> = {}, statistic = 'Sum', label?: string) =>
      new cloudwatch.Metric({
        namespace: EMF.namespace,
        metricName,
        dimensionsMap: { Table: table.tableName, ...extra },
        statistic,
        period: MINUTE,
        ...(label && { label }),
      });

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      ...(props.dashboardName && { dashboardName: props.dashboardName }),
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Concurrent streams (estimate: answered heartbeat intervals per minute, all instances)',
        left: [emf(EMF.concurrentStreams, {}, 'Sum', 'Concurrent streams')],
        width: 12,
      }),
      new cloudwatch.GraphWidget({
        title: 'Admissions vs rejections (per minute)',
        left: [
          emf(EMF.admissions, {}, 'Sum', 'Admitted (201)'),
          emf(EMF.rejections, {}, 'Sum', 'Refused at the limit (409)'),
          emf(EMF.evictions, {}, 'Sum', 'Evicted (evict-oldest)'),
          emf(EMF.terminations, {}, 'Sum', 'Told to stop (410)'),
          emf(EMF.degradedAdmissions, {}, 'Sum', 'Degraded (store down, open mode)'),
        ],
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Request latency p50 / p99',
        left: [props.latency('p50'), props.latency('p99')],
        width: 8,
      }),
      new cloudwatch.GraphWidget({ title: '5xx answers', left: [props.serverErrors], width: 8 }),
      new cloudwatch.GraphWidget({ title: props.capacity.title, left: props.capacity.metrics, width: 8 }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'DynamoDB consumed write units and throttles',
        left: [table.metricConsumedWriteCapacityUnits({ period: MINUTE, statistic: 'Sum', label: 'Consumed WCU' })],
        right: [throttledStoreRequests(table, MINUTE)],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'DynamoDB call latency p99 (as the service sees it, retries included)',
        left: ['UpdateItem', 'GetItem'].map((operation) =>
          emf(EMF.dynamoLatency, { Operation: operation }, 'p99', `${operation} p99`),
        ),
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Store errors by kind (each a 503 unless retried in time)',
        left: STORE_ERROR_KINDS.map((kind) => emf(EMF.storeErrors, { Kind: kind }, 'Sum', kind)),
        width: 8,
      }),
    );
  }
}

/**
 * Alarms on any throttled store call. On-demand tables rarely throttle; when they do (a traffic
 * spike beyond the table's previous peak doubling, or an account limit), players get 503
 * STORE_UNAVAILABLE. Both stacks raise it under the same construct id, `DynamoDbThrottleAlarm`.
 */
export function storeThrottleAlarm(scope: Construct, table: dynamodb.ITable): cloudwatch.Alarm {
  return new cloudwatch.Alarm(scope, 'DynamoDbThrottleAlarm', {
    metric: throttledStoreRequests(table, Duration.minutes(5)),
    alarmDescription:
      "DynamoDB throttled any of the store's calls (GetItem, UpdateItem, PutItem, BatchGetItem) on the lease table",
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
}

/** Sends every alarm's ALARM and OK transitions to an existing SNS topic, when one is configured. */
export function notifyAlarms(
  scope: Construct,
  alarms: readonly cloudwatch.Alarm[],
  alarmTopicArn: string | undefined,
): void {
  if (!alarmTopicArn) return;
  const topic = sns.Topic.fromTopicArn(scope, 'AlarmTopic', alarmTopicArn);
  for (const alarm of alarms) {
    alarm.addAlarmAction(new cloudwatchActions.SnsAction(topic));
    alarm.addOkAction(new cloudwatchActions.SnsAction(topic));
  }
}
