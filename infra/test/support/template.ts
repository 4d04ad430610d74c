import type { Template } from 'aws-cdk-lib/assertions';

/** A dashboard's body with its CloudFormation joins flattened, references as their logical ids. */
export function dashboardBody(template: Template): string {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  if (dashboards.length !== 1) throw new Error(`expected one dashboard, found ${dashboards.length}`);
  const flatten = (value: unknown): string => {
    if (typeof value === 'string') return value;
    const v = value as Record<string, unknown>;
    if (Array.isArray(v['Fn::Join'])) return (v['Fn::Join'][1] as unknown[]).map(flatten).join('');
    if (v.Ref) return `<${String(v.Ref)}>`;
    return JSON.stringify(value);
  };
  return flatten((dashboards[0] as { Properties: { DashboardBody: unknown } }).Properties.DashboardBody);
}
