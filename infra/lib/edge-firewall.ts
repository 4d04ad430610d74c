import { ArnFormat, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

export interface EdgeFirewallProps {
  /** The load balancer the web ACL protects. */
  readonly loadBalancer: elbv2.IApplicationLoadBalancer;
  /** Requests per client IP address per minute, over all tasks, above which WAF answers 429. */
  readonly rateLimitPerMinute: number;
}

/**
 * An AWS WAF web ACL on the load balancer. Two rules:
 *
 * 1. A rate limit per client address, counted by WAF over every request the ALB receives. The
 *    service's own limit (express-rate-limit) counts per task, so one address could otherwise
 *    send the per-task limit times the number of tasks, and more as the service scales out.
 * 2. AWS's common rule set (AWSManagedRulesCommonRuleSet): known-bad patterns in paths, headers
 *    and bodies (XSS, local/remote file inclusion, SSRF to metadata endpoints, bad bots without
 *    a User-Agent), stopped before they use a task's CPU or a DynamoDB call.
 *
 * Only blocked and counted requests are logged (a log line per allowed heartbeat would cost
 * more than the service), with the Authorization header redacted.
 */
export class EdgeFirewall extends Construct {
  /** Rule names, as they appear in WAF metrics, sampled requests and logs. */
  static readonly RATE_RULE = 'RateLimitPerClientIp';
  static readonly COMMON_RULE_SET = 'AWSManagedRulesCommonRuleSet';

  readonly webAcl: wafv2.CfnWebACL;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: EdgeFirewallProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const metricPrefix = stack.stackName;

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      description: 'Stream limiter: per-address rate limit across all tasks, AWS common rule set',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      visibilityConfig: {
        cloudWatchMetricsEnabled: true,
        sampledRequestsEnabled: true,
        metricName: `${metricPrefix}-WebAcl`,
      },
      // The contract's answer to a rate limit: 429, RATE_LIMITED, Retry-After. WAF allows only
      // text/plain, text/html or application/json here, not application/problem+json.
      customResponseBodies: {
        'rate-limited': {
          contentType: 'APPLICATION_JSON',
          content: JSON.stringify({
            type: 'about:blank',
            title: 'Too Many Requests',
            status: 429,
            code: 'RATE_LIMITED',
            detail: 'Too many requests from this address; retry after the number of seconds in Retry-After.',
          }),
        },
      },
      rules: [
        {
          // First, so that an address over its limit is turned away before any other inspection,
          // and every request counts towards the limit, whatever a later rule decides.
          name: EdgeFirewall.RATE_RULE,
          priority: 0,
          statement: {
            rateBasedStatement: {
              limit: props.rateLimitPerMinute,
              // A one-minute window, the unit of the service's RATE_LIMIT_PER_MINUTE.
              evaluationWindowSec: 60,
              // The address the ALB received the connection from. Not FORWARDED_IP: a client
              // sets X-Forwarded-For itself, and would pick a new one for every request.
              aggregateKeyType: 'IP',
            },
          },
          action: {
            block: {
              customResponse: {
                responseCode: 429,
                customResponseBodyKey: 'rate-limited',
                // Response headers are sent as named (only inserted request headers get an
                // x-amzn-waf- prefix). WAF re-evaluates rates every few seconds over a
                // one-minute window, so a minute is the honest wait.
                responseHeaders: [{ name: 'Retry-After', value: '60' }],
              },
            },
          },
          visibilityConfig: {
            cloudWatchMetricsEnabled: true,
            sampledRequestsEnabled: true,
            metricName: `${metricPrefix}-${EdgeFirewall.RATE_RULE}`,
          },
        },
        {
          name: EdgeFirewall.COMMON_RULE_SET,
          priority: 1,
          overrideAction: { none: {} },
          statement: {
            managedRuleGroupStatement: {
              vendorName: 'AWS',
              name: EdgeFirewall.COMMON_RULE_SET,
              // SizeRestrictions_BODY blocks any body over 8 KB, which is also all an ALB lets WAF
              // see of a body. The API accepts up to 16 KiB (whitespace and \u escapes are valid
              // JSON, so a valid add can exceed 8 KB) and answers a larger one itself with a
              // 413 PAYLOAD_TOO_LARGE problem body. Counting keeps the signal in the metrics
              // and logs without turning valid requests into a bare 403.
              ruleActionOverrides: [{ name: 'SizeRestrictions_BODY', actionToUse: { count: {} } }],
            },
          },
          visibilityConfig: {
            cloudWatchMetricsEnabled: true,
            sampledRequestsEnabled: true,
            metricName: `${metricPrefix}-${EdgeFirewall.COMMON_RULE_SET}`,
          },
        },
      ],
    });

    new wafv2.CfnWebACLAssociation(this, 'Association', {
      resourceArn: props.loadBalancer.loadBalancerArn,
      webAclArn: this.webAcl.attrArn,
    });

    // WAF delivers only to log groups named aws-waf-logs-*; the stack name keeps it unique in
    // the account and region.
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `aws-waf-logs-${stack.stackName}`,
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    new wafv2.CfnLoggingConfiguration(this, 'Logging', {
      resourceArn: this.webAcl.attrArn,
      // WAF refuses the log group ARN with the trailing ":*" that the LogGroup's own ARN has.
      logDestinationConfigs: [
        stack.formatArn({
          service: 'logs',
          resource: 'log-group',
          resourceName: this.logGroup.logGroupName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ],
      // Player tokens never reach the logs.
      redactedFields: [{ singleHeader: { Name: 'authorization' } }],
      loggingFilter: {
        DefaultBehavior: 'DROP',
        Filters: [
          {
            Behavior: 'KEEP',
            Requirement: 'MEETS_ANY',
            Conditions: [{ ActionCondition: { Action: 'BLOCK' } }, { ActionCondition: { Action: 'COUNT' } }],
          },
        ],
      },
    });
  }
}
