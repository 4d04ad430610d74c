import { ConfigError, DEFAULT_CONFIG, readConfig } from '../lib/config';

const context = (values: Record<string, unknown>) => ({ tryGetContext: (key: string): unknown => values[key] });

describe('readConfig', () => {
  it('applies the defaults when no context is set', () => {
    expect(readConfig(context({}), {})).toEqual({
      ...DEFAULT_CONFIG,
      stackName: 'StreamLimiter',
      region: 'us-east-1',
      streamLimit: undefined,
      leaseSeconds: undefined,
      certificateArn: undefined,
      alarmTopicArn: undefined,
    });
    expect(DEFAULT_CONFIG).toMatchObject({ tableName: 'stream-leases', minTasks: 2, maxTasks: 10 });
  });

  it('accepts strings from `-c key=value` and JSON values from cdk.json alike', () => {
    const fromCli = readConfig(
      context({ minTasks: '3', maxTasks: '12', containerInsights: 'false', streamLimit: '0' }),
      {},
    );
    const fromJson = readConfig(context({ minTasks: 3, maxTasks: 12, containerInsights: false, streamLimit: 0 }), {});
    expect(fromCli).toEqual(fromJson);
    expect(fromCli).toMatchObject({ minTasks: 3, maxTasks: 12, containerInsights: false, streamLimit: 0 });
  });

  it('takes the region from context, else from the CLI profile (CDK_DEFAULT_REGION), else us-east-1', () => {
    expect(readConfig(context({ region: 'eu-west-1' }), { CDK_DEFAULT_REGION: 'ap-southeast-2' }).region).toBe(
      'eu-west-1',
    );
    expect(readConfig(context({}), { CDK_DEFAULT_REGION: 'ap-southeast-2' }).region).toBe('ap-southeast-2');
    expect(readConfig(context({}), {}).region).toBe('us-east-1');
  });

  it('raises maxTasks to minTasks when only minTasks is given above the default maximum', () => {
    expect(readConfig(context({ minTasks: 12 }), {})).toMatchObject({ minTasks: 12, maxTasks: 12 });
  });

  it.each([
    [{ minTasks: 'two' }, /"minTasks" must be an integer from 1 to 100/],
    [{ minTasks: 4, maxTasks: 3 }, /"maxTasks" \(3\) must be at least minTasks \(4\)/],
    [{ cpu: 300 }, /"cpu" must be one of 256, 512, 1024, 2048, 4096/],
    [{ cpu: 256, memoryMiB: 4096 }, /"memoryMiB" 4096 is not a Fargate memory size for cpu 256/],
    [{ streamLimit: 101 }, /"streamLimit" must be an integer from 0 to 100/],
    [{ leaseSeconds: 1 }, /"leaseSeconds" must be an integer from 2 to 86400/],
    [{ dynamoDbTimeoutMs: 10 }, /"dynamoDbTimeoutMs" must be an integer from 50 to 60000/],
    [{ logLevel: 'verbose' }, /"logLevel" must be fatal, error, warn, info, debug, trace, silent/],
    [{ tableName: 'a' }, /"tableName" must be 3-255/],
    [{ certificateArn: 'my-cert' }, /"certificateArn" must be an ACM certificate ARN/],
    [{ alarmTopicArn: 'arn:aws:sqs:us-east-1:1:q' }, /"alarmTopicArn" must be an SNS topic ARN/],
    [{ containerInsights: 'yes' }, /"containerInsights" must be true or false/],
    [{ region: 'mars-1' }, /"region" must be an AWS region/],
  ])('refuses %j with a message naming the key', (values, message) => {
    expect(() => readConfig(context(values), {})).toThrow(ConfigError);
    expect(() => readConfig(context(values), {})).toThrow(message);
  });
});
