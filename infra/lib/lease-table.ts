import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

/**
 * How the table pays for its writes. On-demand bills each request (nothing at rest, no
 * throttling below the account limits); provisioned bills capacity by the hour, cheaper per
 * write under steady load, with target tracking on write capacity between a floor and a ceiling.
 */
export type TableCapacity =
  | { readonly mode: 'on-demand' }
  | {
      readonly mode: 'provisioned';
      /** Write capacity units autoscaling never goes below (what is paid at rest). */
      readonly minWriteUnits: number;
      /** Write capacity units autoscaling never goes above (the cost ceiling; writes beyond it throttle). */
      readonly maxWriteUnits: number;
      /** Consumed/provisioned write capacity (percent) that target tracking aims for. */
      readonly writeTargetPercent: number;
      /** Read capacity floor: reads are list, check and /readyz only, far fewer than writes. */
      readonly minReadUnits: number;
    };

export const ON_DEMAND: TableCapacity = Object.freeze({ mode: 'on-demand' });

export interface LeaseTableProps {
  readonly tableName: string;
  /** Default on-demand. */
  readonly capacity?: TableCapacity;
}

/**
 * The DynamoDB actions the service's LeaseStore calls in `aws` mode: GetItem (reads, /readyz),
 * UpdateItem (every admission decision), PutItem (a stream's display item) and BatchGetItem
 * (display items read back by list). Nothing else: no Delete, Query, Scan or transactions.
 */
export const STORE_ACTIONS = ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];

/**
 * The lease table: one item per user (partition key `userId`, no sort key) holding that
 * user's leases, so every admission decision is a single-item conditional write. Both stacks
 * (ECS and Lambda) build it from this construct.
 *
 * This table is the service's only state. It is retained when the stack is deleted and
 * protected against deletion, and its construct ids ('Table' here, and the id the stack
 * gives this construct) must never change: a new logical id would make CloudFormation
 * create a second table with the same name (which fails) and orphan the retained one.
 */
export class LeaseTable extends Construct {
  /** Attribute the service writes the garbage-collection time to, in epoch seconds. */
  static readonly TTL_ATTRIBUTE = 'gcAt';

  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: LeaseTableProps) {
    super(scope, id);
    const capacity = props.capacity ?? ON_DEMAND;

    this.table = new dynamodb.Table(this, 'Table', {
      tableName: props.tableName,
      partitionKey: { name: 'userId', type: dynamodb.AttributeType.STRING },
      // On-demand by default: traffic follows viewing hours (evening peaks, live events), and
      // there is nothing to pay while idle. Provisioned is the choice for a steady, large audience
      // (see infra/README.md for where it breaks even); switching is an in-place update.
      ...(capacity.mode === 'on-demand'
        ? { billingMode: dynamodb.BillingMode.PAY_PER_REQUEST }
        : {
            billingMode: dynamodb.BillingMode.PROVISIONED,
            writeCapacity: capacity.minWriteUnits,
            readCapacity: capacity.minReadUnits,
          }),
      // TTL is garbage collection only: the service judges expiry from the item's own lease
      // times, never from TTL having run (it may run days late). Users with a per-user limit
      // override get a string in `gcAt`, which TTL ignores, so the override is never deleted.
      timeToLiveAttribute: LeaseTable.TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    if (capacity.mode === 'provisioned') {
      this.table
        .autoScaleWriteCapacity({ minCapacity: capacity.minWriteUnits, maxCapacity: capacity.maxWriteUnits })
        .scaleOnUtilization({ targetUtilizationPercent: capacity.writeTargetPercent });
      // Reads follow the same tracking so a burst of list calls is not throttled into 503s;
      // their ceiling is the write ceiling, which they never approach in normal use.
      this.table
        .autoScaleReadCapacity({
          minCapacity: capacity.minReadUnits,
          maxCapacity: Math.max(capacity.minReadUnits, capacity.maxWriteUnits),
        })
        .scaleOnUtilization({ targetUtilizationPercent: capacity.writeTargetPercent });
    }
  }

  /** Least privilege: exactly the store's actions, on this one table. */
  grantStoreAccess(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'LeaseTableReadWrite',
        actions: STORE_ACTIONS,
        resources: [this.table.tableArn],
      }),
    );
  }
}
