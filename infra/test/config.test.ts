import { ConfigError, DEFAULT_CONFIG, readConfig } from '../lib/config';

const context = (values: Record<string, unknown>) => ({ tryGetContext: (key: string): unknown => values[key] });
const CERT = 'arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000';
/** The smallest context readConfig accepts: a listener chosen, here the certificate. */
const withListener = (values: Record<string, unknown>) => context({ certificateArn: CERT, ...values });

describe('readConfig', () => {
  it('refuses an empty context: a listener must be chosen, and the message names both ways', () => {
    expect(() => readConfig(context({}), {})).toThrow(ConfigError);
    expect(() => readConfig(context({}), {})).toThrow(/-c certificateArn=arn:aws:acm:.* or -c allowHttp=true/);
  });

  it('applies the defaults to everything but the listener', () => {
    expect(readConfig(withListener({}), {})).toEqual({
      ...DEFAULT_CONFIG,
      stackName: 'StreamLimiter',
      region: 'us-east-1',
      streamLimit: undefined,
      leaseSeconds: undefined,
      certificateArn: CERT,
      alarmTopicArn: undefined,
    });
    expect(DEFAULT_CONFIG).toMatchObject({
      tableName: 'stream-leases',
      minTasks: 2,
      maxTasks: 10,
      allowHttp: false,
      auth: { mode: 'jwt-secret' },
      wafRateLimitPerMinute: 1200,
      metricsPort: 9464,
    });
  });

  it('takes plain HTTP only when asked for explicitly', () => {
    expect(readConfig(context({ allowHttp: 'true' }), {})).toMatchObject({
      allowHttp: true,
      certificateArn: undefined,
    });
    expect(readConfig(context({ allowHttp: true }), {})).toMatchObject({ allowHttp: true });
    expect(() => readConfig(context({ allowHttp: 'false' }), {})).toThrow(/No listener chosen/);
  });

  it.each([
    [{}, { mode: 'jwt-secret' }],
    [
      { authMode: 'jwt', authJwtAudience: 'api', authJwtIssuer: 'me' },
      { mode: 'jwt-secret', audience: 'api', issuer: 'me' },
    ],
    [
      { authJwksUrl: 'https://id.example.com/jwks.json', authJwtAudience: 'api' },
      { mode: 'jwt-jwks', jwksUrl: 'https://id.example.com/jwks.json', audience: 'api' },
    ],
    [
      { authMode: 'none', allowUnauthenticated: 'true' },
      { mode: 'none', allowUnauthenticated: true },
    ],
  ])('reads authentication %j as %j', (values, auth) => {
    expect(readConfig(withListener(values), {}).auth).toEqual(auth);
  });

  it('accepts strings from `-c key=value` and JSON values from cdk.json alike', () => {
    const fromCli = readConfig(
      withListener({ minTasks: '3', maxTasks: '12', containerInsights: 'false', streamLimit: '0' }),
      {},
    );
    const fromJson = readConfig(
      withListener({ minTasks: 3, maxTasks: 12, containerInsights: false, streamLimit: 0 }),
      {},
    );
    expect(fromCli).toEqual(fromJson);
    expect(fromCli).toMatchObject({ minTasks: 3, maxTasks: 12, containerInsights: false, streamLimit: 0 });
  });

  it('builds the change fan-out unless changeFanout=false', () => {
    expect(readConfig(withListener({}), {}).changeFanout).toBe(true);
    expect(readConfig(withListener({ changeFanout: 'false' }), {}).changeFanout).toBe(false);
    expect(readConfig(withListener({ changeFanout: false }), {}).changeFanout).toBe(false);
    expect(() => readConfig(withListener({ changeFanout: 'no' }), {})).toThrow(/"changeFanout" must be true or false/);
  });

  it('takes the region from context, else from the CLI profile (CDK_DEFAULT_REGION), else us-east-1', () => {
    expect(
      readConfig(context({ allowHttp: true, region: 'eu-west-1' }), { CDK_DEFAULT_REGION: 'ap-southeast-2' }).region,
    ).toBe('eu-west-1');
    expect(readConfig(context({ allowHttp: true }), { CDK_DEFAULT_REGION: 'ap-southeast-2' }).region).toBe(
      'ap-southeast-2',
    );
    expect(readConfig(withListener({}), {}).region).toBe('us-east-1');
  });

  it('raises maxTasks to minTasks when only minTasks is given above the default maximum', () => {
    expect(readConfig(withListener({ minTasks: 12 }), {})).toMatchObject({ minTasks: 12, maxTasks: 12 });
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
    [{ allowHttp: 'yes' }, /"allowHttp" must be true or false/],
    [{ allowHttp: 'true' }, /"certificateArn" and "allowHttp=true" contradict/],
    [{ certificateArn: CERT.replace('us-east-1', 'eu-west-1') }, /is in eu-west-1 but the stack is for us-east-1/],
    [{ authMode: 'oauth' }, /"authMode" must be jwt or none/],
    [{ authMode: 'none' }, /add -c allowUnauthenticated=true/],
    [{ authMode: 'none', allowUnauthenticated: 'true', authJwtAudience: 'a' }, /takes no authJwksUrl/],
    [{ allowUnauthenticated: 'true' }, /only goes with authMode=none/],
    [{ authJwksUrl: 'http://id.example.com/jwks.json', authJwtAudience: 'a' }, /"authJwksUrl" must be an https: URL/],
    [{ authJwksUrl: 'https://id.example.com/jwks.json' }, /"authJwtAudience" is required with authJwksUrl/],
    [{ wafRateLimitPerMinute: 5 }, /"wafRateLimitPerMinute" must be an integer from 10 to 2000000000/],
    [{ metricsPort: 3000 }, /"metricsPort" must differ from the service port 3000/],
    [{ metricsPort: 80 }, /"metricsPort" must be an integer from 1024 to 65535/],
  ])('refuses %j with a message naming the key', (values, message) => {
    expect(() => readConfig(withListener(values), {})).toThrow(ConfigError);
    expect(() => readConfig(withListener(values), {})).toThrow(message);
  });
});
