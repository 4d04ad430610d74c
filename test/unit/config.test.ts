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
      streamPolicy: 'block-new',
      leaseMaxSeconds: 90,
      storeFailureMode: 'closed',
      metricsEmf: false,
    });
  });

  it('takes the admission policy, adaptive leases and the store failure mode', () => {
    expect(
      loadConfig({ STREAM_POLICY: 'evict-oldest', LEASE_MAX_SECONDS: '300', STORE_FAILURE_MODE: 'open' }),
    ).toMatchObject({
      streamPolicy: 'evict-oldest',
      leaseMaxSeconds: 300,
      storeFailureMode: 'open',
    });
    // LEASE_MAX_SECONDS follows LEASE_SECONDS by default (adaptive leases off).
    expect(loadConfig({ LEASE_SECONDS: '30' }).leaseMaxSeconds).toBe(30);
  });

  it('turns EMF lines on only with METRICS_EMF=true', () => {
    expect(loadConfig({ METRICS_EMF: 'true' }).metricsEmf).toBe(true);
    expect(loadConfig({ METRICS_EMF: 'false' }).metricsEmf).toBe(false);
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
    [{ STREAM_POLICY: 'evict-newest' }, 'STREAM_POLICY'],
    [{ STORE_FAILURE_MODE: 'half-open' }, 'STORE_FAILURE_MODE'],
    [{ LEASE_MAX_SECONDS: '89' }, 'LEASE_MAX_SECONDS'],
    [{ LEASE_MAX_SECONDS: '86401' }, 'LEASE_MAX_SECONDS'],
    [{ LEASE_MAX_SECONDS: 'long' }, 'LEASE_MAX_SECONDS'],
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
    [
      { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: 'x'.repeat(32), AUTH_JWKS_URL: 'https://idp.example.com/jwks' },
      'AUTH_JWKS_URL',
    ],
    [{ DYNAMODB_ENDPOINT: 'aws' }, 'AWS_REGION'],
    [{ DYNAMODB_ENDPOINT: 'ftp://x' }, 'DYNAMODB_ENDPOINT'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ BASE_PATH: 'dev' }, 'BASE_PATH'],
    [{ DYNAMODB_TABLE: 'a' }, 'DYNAMODB_TABLE'],
    [{ HOST: 'bad host!' }, 'HOST'],
    [{ DYNAMODB_ENDPOINT: 'aws', AWS_REGION: 'eu-west-1' }, 'AUTH_MODE'],
    [{ DYNAMODB_ENDPOINT: 'aws', AWS_REGION: 'eu-west-1', AUTH_MODE: ' ' }, 'AUTH_MODE'],
    [{ METRICS_PORT: '3000' }, 'METRICS_PORT'],
    [{ METRICS_PORT: 'abc' }, 'METRICS_PORT'],
    [{ METRICS_EMF: 'yes' }, 'METRICS_EMF'],
    [{ METRICS_PORT: '65536' }, 'METRICS_PORT'],
    [{ TRUST_PROXY: 'true' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '0' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '11' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: 'loopback' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '10.0.0.0/33' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '0.0.0.0/0' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '::/0' }, 'TRUST_PROXY'],
    [{ TRUST_PROXY: '10.0.0.1, 300.1.1.1' }, 'TRUST_PROXY'],
    [{ AUTH_JWT_MAX_TTL_SECONDS: '0' }, 'AUTH_JWT_MAX_TTL_SECONDS'],
    [{ AUTH_JWT_MAX_TTL_SECONDS: '1h' }, 'AUTH_JWT_MAX_TTL_SECONDS'],
    [{ AUTH_MODE: 'jwt', AUTH_JWKS_URL: 'http://idp.example.com/jwks', AUTH_JWT_AUDIENCE: 'a' }, 'AUTH_JWKS_URL'],
    [{ AUTH_MODE: 'jwt', AUTH_JWKS_URL: 'http://10.0.0.5/jwks', AUTH_JWT_AUDIENCE: 'a' }, 'AUTH_JWKS_URL'],
    [{ AUTH_MODE: 'jwt', AUTH_JWKS_URL: 'http://127.0.0.1.example.com/jwks', AUTH_JWT_AUDIENCE: 'a' }, 'AUTH_JWKS_URL'],
    [{ AUTH_MODE: 'jwt', AUTH_JWKS_URL: 'ftp://idp.example.com/jwks', AUTH_JWT_AUDIENCE: 'a' }, 'AUTH_JWKS_URL'],
    [{ AUTH_MODE: 'jwt', AUTH_JWKS_URL: 'not a url', AUTH_JWT_AUDIENCE: 'a' }, 'AUTH_JWKS_URL'],
    [{ AUTH_MODE: 'jwt', AUTH_JWKS_URL: 'https://idp.example.com/jwks' }, 'AUTH_JWT_AUDIENCE'],
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
      AUTH_JWT_AUDIENCE: 'stream-limiter',
      AUTH_JWT_MAX_TTL_SECONDS: '3600',
      METRICS_PORT: '9100',
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
      auth: {
        mode: 'jwt',
        jwksUrl: 'https://idp.example.com/.well-known/jwks.json',
        audience: 'stream-limiter',
        maxTtlSeconds: 3600,
      },
      metricsPort: 9100,
      streamLimit: 0,
      port: 0,
      host: '127.0.0.1',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('listens on loopback by default with the embedded store, and on every interface otherwise', () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000' }).host).toBeUndefined();
    expect(loadConfig({ DYNAMODB_ENDPOINT: 'aws', AWS_REGION: 'eu-west-1', AUTH_MODE: 'none' }).host).toBeUndefined();
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(
      loadConfig({
        DYNAMODB_ENDPOINT: 'aws',
        AWS_REGION: 'eu-west-1',
        AUTH_MODE: 'jwt',
        AUTH_JWT_SECRET: 'x'.repeat(32),
        HOST: '10.1.2.3',
      }).host,
    ).toBe('10.1.2.3');
  });

  it('needs AUTH_MODE set explicitly with DYNAMODB_ENDPOINT=aws, and takes none when it is', () => {
    expect(() => loadConfig({ DYNAMODB_ENDPOINT: 'aws', AWS_REGION: 'eu-west-1' })).toThrow(
      /^invalid configuration: AUTH_MODE must be set explicitly when DYNAMODB_ENDPOINT=aws/,
    );
    expect(loadConfig({ DYNAMODB_ENDPOINT: 'aws', AWS_REGION: 'eu-west-1', AUTH_MODE: 'none' }).auth).toEqual({
      mode: 'none',
    });
    expect(loadConfig({ DYNAMODB_ENDPOINT: 'http://127.0.0.1:8000' }).auth).toEqual({ mode: 'none' });
  });

  it('leaves METRICS_PORT unset by default (metrics on PORT), and takes 0 for any free port', () => {
    expect(loadConfig({}).metricsPort).toBeUndefined();
    expect(loadConfig({ METRICS_PORT: '0', PORT: '0' }).metricsPort).toBe(0);
  });

  it('bounds token lifetimes to a day by default', () => {
    expect(loadConfig({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: 'x'.repeat(32) }).auth).toMatchObject({
      maxTtlSeconds: 86400,
    });
  });

  it.each([
    'http://127.0.0.1:8080/jwks',
    'http://127.9.9.9/jwks',
    'http://localhost:8080/jwks',
    'http://[::1]:8080/jwks',
    'https://idp.example.com/jwks',
  ])('accepts the JWKS URL %s (https:, or http: on a loopback host)', (url) => {
    expect(loadConfig({ AUTH_MODE: 'jwt', AUTH_JWKS_URL: url, AUTH_JWT_AUDIENCE: 'a' }).auth).toMatchObject({
      jwksUrl: url,
    });
  });

  it.each([
    ['false', false],
    ['1', 1],
    ['10', 10],
    ['10.0.0.0/8', ['10.0.0.0/8']],
    ['10.0.1.7, 172.16.0.0/12, fd00::/8, ::1', ['10.0.1.7', '172.16.0.0/12', 'fd00::/8', '::1']],
  ])('takes TRUST_PROXY=%s', (raw, expected) => {
    expect(loadConfig({ TRUST_PROXY: raw }).trustProxy).toEqual(expected);
  });

  it('refuses TRUST_PROXY=true in one line saying why', () => {
    expect(() => loadConfig({ TRUST_PROXY: 'true' })).toThrow(
      /^invalid configuration: TRUST_PROXY must be .*true is refused: it lets any client choose its address/,
    );
  });
});

describe('loadConfig messages', () => {
  const refusal = (env: Record<string, string>): string => {
    try {
      loadConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    throw new Error(`accepted ${JSON.stringify(env)}`);
  };

  it.each(['abc', '2.5', '1e3', '0x10', '+5', '99999999999999999999'])(
    'states the bounds, never a generic parser text, for the integer form %s',
    (raw) => {
      const integers: [variable: string, bounds: string][] = [
        ['PORT', 'an integer from 0 to 65535'],
        ['METRICS_PORT', 'an integer from 0 to 65535'],
        ['STREAM_LIMIT', 'an integer from 0 to 100'],
        ['LEASE_SECONDS', 'an integer from 2 to 86400'],
        ['LEASE_MAX_SECONDS', 'an integer from LEASE_SECONDS (90) to 86400'],
        ['HEARTBEAT_INTERVAL_SECONDS', 'an integer from 1 to LEASE_SECONDS-1 (89)'],
        ['DYNAMODB_TIMEOUT_MS', 'an integer from 50 to 60000'],
        ['RATE_LIMIT_PER_MINUTE', 'an integer >= 0'],
        ['AUTH_JWT_MAX_TTL_SECONDS', 'an integer from 60 to 2592000'],
      ];
      for (const [variable, bounds] of integers) {
        expect(refusal({ [variable]: ` ${raw} ` })).toBe(
          `invalid configuration: ${variable} must be ${bounds} (got ${JSON.stringify(raw)})`,
        );
      }
    },
  );

  it('states the bounds that follow LEASE_SECONDS with its value', () => {
    expect(refusal({ LEASE_SECONDS: '30', LEASE_MAX_SECONDS: '29' })).toBe(
      'invalid configuration: LEASE_MAX_SECONDS must be an integer from LEASE_SECONDS (30) to 86400 (got "29")',
    );
    expect(refusal({ LEASE_SECONDS: '30', HEARTBEAT_INTERVAL_SECONDS: 'often' })).toBe(
      'invalid configuration: HEARTBEAT_INTERVAL_SECONDS must be an integer from 1 to LEASE_SECONDS-1 (29) (got "often")',
    );
  });

  it('never echoes the JWT secret', () => {
    const secret = 'short-but-secret';
    const message = refusal({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: secret });
    expect(message).toBe(
      'invalid configuration: AUTH_JWT_SECRET must be at least 32 bytes (256 bits) for HS256 (got "<too short>")',
    );
    expect(refusal({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: secret, AUTH_JWKS_URL: 'https://idp.example.com/jwks' })).toBe(
      'invalid configuration: AUTH_JWKS_URL must be set, exactly one of AUTH_JWT_SECRET and AUTH_JWKS_URL, when AUTH_MODE=jwt (got "<both set>")',
    );
  });

  it('names a value that is bad on its own before a rule across variables', () => {
    expect(refusal({ DYNAMODB_ENDPOINT: 'aws', LOG_LEVEL: 'loud' })).toMatch(/^invalid configuration: LOG_LEVEL /);
    expect(refusal({ DYNAMODB_ENDPOINT: 'aws', AWS_REGION: 'eu-west-1' })).toMatch(
      /^invalid configuration: AUTH_MODE /,
    );
  });

  it('treats a blank value as unset', () => {
    expect(loadConfig({ PORT: ' ', STREAM_LIMIT: '', AUTH_MODE: '  ' })).toMatchObject({
      port: 3000,
      streamLimit: 3,
      auth: { mode: 'none' },
    });
  });
});
