import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';

export interface LeaseTableProps {
  readonly tableName: string;
}

/**
 * The lease table: one item per user (partition key `userId`, no sort key) holding that
 * user's leases, so every admission decision is a single-item conditional write.
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

    this.table = new dynamodb.Table(this, 'Table', {
      tableName: props.tableName,
      partitionKey: { name: 'userId', type: dynamodb.AttributeType.STRING },
      // On-demand: traffic follows viewing hours (evening peaks, live events), and there is
      // nothing to pay while idle; provisioned capacity would need autoscaling headroom.
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      // TTL is garbage collection only: the service judges expiry from the item's own lease
      // times, never from TTL having run (it may run days late). Users with a per-user limit
      // override get a string in `gcAt`, which TTL ignores, so the override is never deleted.
      timeToLiveAttribute: LeaseTable.TTL_ATTRIBUTE,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}
