import { ConfigError, loadConfig } from '../../src/config';

describe('loadConfig', () => {
  it('applies the contract defaults with no settings at all', () => {
    expect(loadConfig({})).toMatchObject({
      port: 3000,
      streamLimit: 3,
      leaseSeconds: 90,
      heartbeatIntervalSeconds: 30,
      table: 'stream-leases',
      endpoint: { kind: 'embedded' },
      timeoutMs: 1000,
      region: 'us-east-1',
      basePath: '',
      corsOrigins: undefined,
      trustProxy: false,
      auth: { mode: 'none' },
      rateLimitPerMinute: 600,
      logLevel: 'info',
    });
  });

  it.each([
    ['30', 10],
    ['2', 1],
    ['6', 2],
    ['300', 30],
  ])('defaults the heartbeat to a third of LEASE_SECONDS=%s when less than 30 (at least 1)', (lease, heartbeat) => {
    expect(loadConfig({ LEASE_SECONDS: lease }).heartbeatIntervalSeconds).toBe(heartbeat);
  });

  it.each([
    [{ STREAM_LIMIT: 'abc' }, 'STREAM_LIMIT'],
    [{ STREAM_LIMIT: '101' }, 'STREAM_LIMIT'],
    [{ STREAM_LIMIT: '2.5' }, 'STREAM_LIMIT'],
    [{ LEASE_SECONDS: '1' }, 'LEASE_SECONDS'],
    [{ LEASE_SECONDS: '86401' }, 'LEASE_SECONDS'],
    [{ LEASE_SECONDS: '10', HEARTBEAT_INTERVAL_SECONDS: '10' }, 'HEARTBEAT_INTERVAL_SECONDS'],
    [{ HEARTBEAT_INTERVAL_SECONDS: '0' }, 'HEARTBEAT_INTERVAL_SECONDS'],
    [{ DYNAMODB_TIMEOUT_MS: '49' }, 'DYNAMODB_TIMEOUT_MS'],
    [{ DYNAMODB_TIMEOUT_MS: '60001' }, 'DYNAMODB_TIMEOUT_MS'],
    [{ PORT: '65536' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ RATE_LIMIT_PER_MINUTE: '-1' }, 'RATE_LIMIT_PER_MINUTE'],
    [{ AUTH_MODE: 'basic' }, 'AUTH_MODE'],
    [{ AUTH_MODE: 'jwt' }, 'AUTH_JWT_SECRET'],
    [{ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: 'x'.repeat(32), AUTH_JWKS_URL: 'https://idp.example.com/jwks' }, 'AUTH_JWKS_URL'],
    [{ DYNAMODB_ENDPOINT: 'aws' }, 'AWS_REGION'],
    [{ DYNAMODB_ENDPOINT: 'ftp://x' }, 'DYNAMODB_ENDPOINT'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ BASE_PATH: 'dev' }, 'BASE_PATH'],
    [{ DYNAMODB_TABLE: 'a' }, 'DYNAMODB_TABLE'],
    [{ HOST: 'bad host!' }, 'HOST'],
  ])('refuses %j naming %s', (env, variable) => {
    let error: unknown;
    try {
      loadConfig(env as Record<string, string>);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as ConfigError).message).toMatch(new RegExp(`^invalid configuration: ${variable} must be .+`));
    expect((error as ConfigError).message).not.toContain('\n');
  });

  it('accepts the documented non-default forms', () => {
    const config = loadConfig({
      DYNAMODB_ENDPOINT: 'aws',
      AWS_REGION: 'eu-west-1',
      BASE_PATH: '/dev/',
      CORS_ORIGINS: 'https://a.example.com, https://b.example.com',
      TRUST_PROXY: '1',
      AUTH_MODE: 'jwt',
      AUTH_JWKS_URL: 'https://idp.example.com/.well-known/jwks.json',
      STREAM_LIMIT: '0',
      PORT: '0',
      HOST: '127.0.0.1',
    });
    expect(config).toMatchObject({
      endpoint: { kind: 'aws' },
      region: 'eu-west-1',
      basePath: '/dev',
      corsOrigins: ['https://a.example.com', 'https://b.example.com'],
      trustProxy: 1,
      auth: { mode: 'jwt', jwksUrl: 'https://idp.example.com/.well-known/jwks.json' },
      streamLimit: 0,
      port: 0,
      host: '127.0.0.1',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });
});
