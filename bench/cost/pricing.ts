/*
 * Public list prices, us-east-1 (US East, N. Virginia), as published on the pages below when this
 * model was written. Prices change: update them here (one place) and rerun `npm run cost`.
 */
export interface PriceSource {
  readonly what: string;
  readonly url: string;
}

export const PRICES = Object.freeze({
  region: 'us-east-1',
  /** When the figures below were read from the pages cited. */
  consultedOn: '2026-12-01',
  /** On-demand: $ per million write request units (the November 2024 price, half the earlier $1.25). */
  onDemandPerMillionWriteUnits: 0.625,
  /** Provisioned: $ per write capacity unit-hour. */
  provisionedPerWcuHour: 0.00065,
  /** Fargate Linux/x86: $ per vCPU-hour ($0.000011244 per vCPU-second). */
  fargatePerVcpuHour: 0.04048,
  /** Fargate Linux/x86: $ per GB-hour. */
  fargatePerGbHour: 0.004445,
  hoursPerMonth: 730,
});

export const PRICE_SOURCES: readonly PriceSource[] = Object.freeze([
  { what: 'DynamoDB on-demand (write request units)', url: 'https://aws.amazon.com/dynamodb/pricing/on-demand/' },
  { what: 'DynamoDB provisioned capacity (WCU-hours)', url: 'https://aws.amazon.com/dynamodb/pricing/provisioned/' },
  { what: 'AWS Fargate (vCPU-hours, GB-hours)', url: 'https://aws.amazon.com/fargate/pricing/' },
  {
    what: 'A failed conditional write is billed (by the size of the existing item, at least 1 unit)',
    url: 'https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html',
  },
]);
