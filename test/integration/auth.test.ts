import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type KeyLike } from 'jose';
import pino from 'pino';
import request from 'supertest';
import { createTokenVerifier } from '../../src/auth/token-verifier';
import { loadConfig } from '../../src/config';
import { createTestApp, uniqueId, type TestApp } from '../helpers/test-app';

const SECRET = 'test-secret-that-is-at-least-32-bytes-long!!';
const secretKey = new TextEncoder().encode(SECRET);

/** An HS256 token issued now, expiring in 5 minutes unless told otherwise (`null`: no exp at all). */
async function hs256(
  claims: Record<string, unknown>,
  options: { expiresIn?: string | number | null; alg?: string } = {},
): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'HS256' }).setIssuedAt();
  if (options.expiresIn !== null) jwt.setExpirationTime(options.expiresIn ?? '5m');
  return jwt.sign(secretKey);
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function unsigned(claims: Record<string, unknown>): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`;
}

function expectUnauthenticated(res: request.Response): void {
  expect(res.status).toBe(401);
  expect(res.body.code).toBe('UNAUTHENTICATED');
  expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
}

describe('AUTH_MODE=jwt with an HS256 secret', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET });
  });
  afterAll(() => t.close());

  it('lets a token act on its own user', async () => {
    const userId = uniqueId();
    const token = await hs256({ sub: userId }, { expiresIn: '5m' });
    const res = await request(t.app).post('/streams/add').set('Authorization', `Bearer ${token}`).send({ userId });
    expect(res.status).toBe(201);
    const listed = await request(t.app).get(`/users/${userId}/streams`).set('Authorization', `Bearer ${token}`);
    expect(listed.body.activeStreams).toBe(1);
  });

  it("refuses another user's userId in the body or path with 403", async () => {
    const token = await hs256({ sub: uniqueId() });
    const add = await request(t.app)
      .post('/streams/add')
      .set('Authorization', `Bearer ${token}`)
      .send({ userId: uniqueId() });
    expect(add.status).toBe(403);
    expect(add.body.code).toBe('FORBIDDEN');
    expect(
      (await request(t.app).get(`/users/${uniqueId()}/streams`).set('Authorization', `Bearer ${token}`)).status,
    ).toBe(403);
  });

  it('answers a missing token with 401 and a bare Bearer challenge', async () => {
    const res = await request(t.app).post('/streams/add').send({ userId: 'u' });
    expectUnauthenticated(res);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="stream-limiter"');
  });

  it.each([
    ['a malformed header', () => Promise.resolve('Basic dXNlcjpwYXNz')],
    ['a malformed token', () => Promise.resolve('Bearer not.a.jwt')],
    [
      'a wrong signature',
      async () =>
        `Bearer ${await new SignJWT({ sub: 'u' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('x'.repeat(40)))}`,
    ],
    [
      'an expired token beyond the 30 s tolerance',
      async () => `Bearer ${await hs256({ sub: 'u' }, { expiresIn: Math.floor(Date.now() / 1000) - 60 })}`,
    ],
    ['alg none', () => Promise.resolve(`Bearer ${unsigned({ sub: 'u' })}`)],
    ['a token without sub', async () => `Bearer ${await hs256({})}`],
    ['an HS384 token (algorithm not allowed)', async () => `Bearer ${await hs256({ sub: 'u' }, { alg: 'HS384' })}`],
  ])('answers %s with 401 invalid_token', async (_case, header) => {
    const res = await request(t.app)
      .post('/streams/add')
      .set('Authorization', await header())
      .send({ userId: 'u' });
    expectUnauthenticated(res);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_(token|request)"/);
  });

  it('accepts a token that expired within the 30 s clock tolerance', async () => {
    const userId = uniqueId();
    const token = await hs256({ sub: userId }, { expiresIn: Math.floor(Date.now() / 1000) - 10 });
    expect(
      (await request(t.app).post('/streams/add').set('Authorization', `Bearer ${token}`).send({ userId })).status,
    ).toBe(201);
  });

  it('checks route, then authentication, then content type, then schema, then authorization', async () => {
    const foreign = await hs256({ sub: 'someone-else' });
    expect((await request(t.app).post('/nope')).status).toBe(404);
    expect((await request(t.app).get('/streams/add')).status).toBe(405);
    expect((await request(t.app).post('/streams/add').set('Content-Type', 'text/plain').send('x')).status).toBe(401);
    expect(
      (
        await request(t.app)
          .post('/streams/add')
          .set('Authorization', `Bearer ${foreign}`)
          .set('Content-Type', 'text/plain')
          .send('x')
      ).status,
    ).toBe(415);
    expect(
      (await request(t.app).post('/streams/add').set('Authorization', `Bearer ${foreign}`).send({ userId: 'bad id' }))
        .status,
    ).toBe(400);
    expect(
      (await request(t.app).post('/streams/add').set('Authorization', `Bearer ${foreign}`).send({ userId: 'good-id' }))
        .status,
    ).toBe(403);
  });

  it('lets the streams:admin scope read any user and set limits, and nobody else set them', async () => {
    const userId = uniqueId();
    const admin = await hs256({ sub: 'ops', scope: 'openid streams:admin' });
    const user = await hs256({ sub: userId, scope: 'openid' });
    expect((await request(t.app).get(`/users/${userId}/streams`).set('Authorization', `Bearer ${admin}`)).status).toBe(
      200,
    );
    const denied = await request(t.app)
      .put(`/users/${userId}/limit`)
      .set('Authorization', `Bearer ${user}`)
      .send({ limit: 5 });
    expect(denied.status).toBe(403);
    const set = await request(t.app)
      .put(`/users/${userId}/limit`)
      .set('Authorization', `Bearer ${admin}`)
      .send({ limit: 5 });
    expect(set.body).toMatchObject({ userId, limit: 5 });
    expect((await request(t.app).delete(`/users/${userId}/limit`).set('Authorization', `Bearer ${user}`)).status).toBe(
      403,
    );
    expect(
      (await request(t.app).delete(`/users/${userId}/limit`).set('Authorization', `Bearer ${admin}`)).body.limit,
    ).toBe(3);
  });

  it('never authenticates health, readiness and docs', async () => {
    expect((await request(t.app).get('/healthz')).status).toBe(200);
    expect((await request(t.app).get('/readyz')).status).toBe(200);
  });
});

describe('token lifetime: exp required, bounded by AUTH_JWT_MAX_TTL_SECONDS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET, AUTH_JWT_MAX_TTL_SECONDS: '600' });
  });
  afterAll(() => t.close());

  const add = async (userId: string, token: string) =>
    request(t.app).post('/streams/add').set('Authorization', `Bearer ${token}`).send({ userId });
  const signed = (claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(secretKey);

  it('refuses a token without exp with 401 and a Bearer challenge naming exp', async () => {
    const res = await add('u', await hs256({ sub: 'u' }, { expiresIn: null }));
    expectUnauthenticated(res);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    expect(res.body.detail).toMatch(/no exp claim/);
  });

  it('accepts a lifetime of exactly AUTH_JWT_MAX_TTL_SECONDS after iat, and refuses one second more', async () => {
    const userId = uniqueId();
    const iat = nowSeconds();
    expect((await add(userId, await signed({ sub: userId, iat, exp: iat + 600 }))).status).toBe(201);
    const res = await add(userId, await signed({ sub: userId, iat, exp: iat + 601 }));
    expectUnauthenticated(res);
    expect(res.body.detail).toMatch(/lifetime exceeds 600 s/);
  });

  it('measures from iat even when the token was issued long ago', async () => {
    const iat = nowSeconds() - 3000;
    expectUnauthenticated(await add('u', await signed({ sub: 'u', iat, exp: nowSeconds() + 60 })));
  });

  it('without iat, measures exp from now', async () => {
    const userId = uniqueId();
    expect((await add(userId, await signed({ sub: userId, exp: nowSeconds() + 590 }))).status).toBe(201);
    expectUnauthenticated(await add(userId, await signed({ sub: userId, exp: nowSeconds() + 3600 })));
  });

  it('cannot be stretched by an iat in the future', async () => {
    const iat = nowSeconds() + 86400;
    expectUnauthenticated(await add('u', await signed({ sub: 'u', iat, exp: iat + 60 })));
  });

  it('defaults to a day: a token valid for a week is refused', async () => {
    const daily = await createTestApp({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET });
    try {
      const userId = uniqueId();
      const day = await hs256({ sub: userId }, { expiresIn: '24h' });
      const week = await hs256({ sub: userId }, { expiresIn: '7d' });
      expect(
        (await request(daily.app).post('/streams/add').set('Authorization', `Bearer ${day}`).send({ userId })).status,
      ).toBe(201);
      expectUnauthenticated(
        await request(daily.app).post('/streams/add').set('Authorization', `Bearer ${week}`).send({ userId }),
      );
    } finally {
      daily.close();
    }
  });
});

describe('AUTH_JWT_ISSUER and AUTH_JWT_AUDIENCE', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: SECRET,
      AUTH_JWT_ISSUER: 'https://idp.example.com',
      AUTH_JWT_AUDIENCE: 'stream-limiter',
    });
  });
  afterAll(() => t.close());

  it('accepts only the configured issuer and audience', async () => {
    const userId = uniqueId();
    const good = await hs256({ sub: userId, iss: 'https://idp.example.com', aud: 'stream-limiter' });
    const wrongIssuer = await hs256({ sub: userId, iss: 'https://evil.example.com', aud: 'stream-limiter' });
    const wrongAudience = await hs256({ sub: userId, iss: 'https://idp.example.com', aud: 'other' });
    expect(
      (await request(t.app).post('/streams/add').set('Authorization', `Bearer ${good}`).send({ userId })).status,
    ).toBe(201);
    expectUnauthenticated(
      await request(t.app).post('/streams/add').set('Authorization', `Bearer ${wrongIssuer}`).send({ userId }),
    );
    expectUnauthenticated(
      await request(t.app).post('/streams/add').set('Authorization', `Bearer ${wrongAudience}`).send({ userId }),
    );
  });
});

describe('AUTH_MODE=jwt with a JWKS URL (RS256/ES256)', () => {
  let jwks: { keys: JWK[] };
  let server: http.Server;
  let jwksUrl: string;
  let fetches = 0;
  let rsa: { privateKey: KeyLike; publicKey: KeyLike };
  let t: TestApp;

  const sign = (claims: Record<string, unknown>, key: KeyLike, alg: string, kid: string) =>
    new SignJWT({ aud: 'stream-limiter', ...claims })
      .setProtectedHeader({ alg, kid })
      .setExpirationTime('5m')
      .sign(key);

  beforeAll(async () => {
    rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    jwks = {
      keys: [
        { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
        { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
      ],
    };
    server = http.createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
    const auth = { AUTH_MODE: 'jwt', AUTH_JWKS_URL: jwksUrl, AUTH_JWT_AUDIENCE: 'stream-limiter' };
    const config = loadConfig(auth);
    t = await createTestApp(auth, {
      deps: {
        verifyToken: createTokenVerifier(config.auth as Extract<typeof config.auth, { mode: 'jwt' }>, {
          jwksCooldownMs: 0,
        }),
      },
    });
    (t as { ec?: typeof ec }).ec = ec;
  });
  afterAll(async () => {
    t.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('verifies RS256 and ES256 tokens against the key set, fetched once and cached', async () => {
    const ec = (t as unknown as { ec: { privateKey: KeyLike } }).ec;
    const userId = uniqueId();
    const before = fetches;
    const rsToken = await sign({ sub: userId }, rsa.privateKey, 'RS256', 'rsa-1');
    const esToken = await sign({ sub: userId }, ec.privateKey, 'ES256', 'ec-1');
    expect(
      (await request(t.app).post('/streams/add').set('Authorization', `Bearer ${rsToken}`).send({ userId })).status,
    ).toBe(201);
    expect(
      (await request(t.app).post('/streams/add').set('Authorization', `Bearer ${esToken}`).send({ userId })).status,
    ).toBe(201);
    expect(fetches - before).toBeLessThanOrEqual(1);
  });

  it('refuses an HS256 token signed with the public key (algorithm confusion)', async () => {
    const publicJwk = jwks.keys[0]!;
    const forged = await new SignJWT({ sub: 'u', aud: 'stream-limiter' })
      .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
    expectUnauthenticated(
      await request(t.app).post('/streams/add').set('Authorization', `Bearer ${forged}`).send({ userId: 'u' }),
    );
  });

  it('picks up a rotated key when a token names an unknown kid', async () => {
    const rotated = await generateKeyPair('RS256');
    const userId = uniqueId();
    const token = await sign({ sub: userId }, rotated.privateKey, 'RS256', 'rsa-2');
    expectUnauthenticated(
      await request(t.app).post('/streams/add').set('Authorization', `Bearer ${token}`).send({ userId }),
    );
    jwks = {
      keys: [...jwks.keys, { ...(await exportJWK(rotated.publicKey)), kid: 'rsa-2', alg: 'RS256', use: 'sig' }],
    };
    expect(
      (await request(t.app).post('/streams/add').set('Authorization', `Bearer ${token}`).send({ userId })).status,
    ).toBe(201);
  });

  it('refuses a token from the same key set meant for another audience', async () => {
    const userId = uniqueId();
    const token = await sign({ sub: userId, aud: 'another-app' }, rsa.privateKey, 'RS256', 'rsa-1');
    expectUnauthenticated(
      await request(t.app).post('/streams/add').set('Authorization', `Bearer ${token}`).send({ userId }),
    );
  });

  it('refuses a token signed by a key that is not in the set', async () => {
    const stranger = await generateKeyPair('RS256');
    const token = await sign({ sub: 'u' }, stranger.privateKey, 'RS256', 'rsa-1');
    expectUnauthenticated(
      await request(t.app).post('/streams/add').set('Authorization', `Bearer ${token}`).send({ userId: 'u' }),
    );
  });
});

describe('RATE_LIMIT_PER_MINUTE', () => {
  it('answers the request over the limit with 429, Retry-After and RateLimit headers; health is never limited', async () => {
    const t = await createTestApp({ RATE_LIMIT_PER_MINUTE: '3' });
    const userId = uniqueId();
    for (let i = 0; i < 3; i++) {
      const res = await request(t.app).get(`/users/${userId}/streams`);
      expect(res.status).toBe(200);
      expect(res.headers.ratelimit).toMatch(/limit=3/);
    }
    const limited = await request(t.app).post('/streams/add').send({ userId });
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['ratelimit-policy']).toMatch(/^3;w=60/);
    for (let i = 0; i < 5; i++) expect((await request(t.app).get('/healthz')).status).toBe(200);
    t.close();
  });

  it('limits before authenticating, and counts per verified user when auth is on', async () => {
    const t = await createTestApp({ RATE_LIMIT_PER_MINUTE: '2', AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET });
    const [alice, bob] = [uniqueId('alice'), uniqueId('bob')];
    const aliceToken = await hs256({ sub: alice });
    const bobToken = await hs256({ sub: bob });
    for (let i = 0; i < 2; i++)
      expect(
        (await request(t.app).get(`/users/${alice}/streams`).set('Authorization', `Bearer ${aliceToken}`)).status,
      ).toBe(200);
    expect(
      (await request(t.app).get(`/users/${alice}/streams`).set('Authorization', `Bearer ${aliceToken}`)).status,
    ).toBe(429);
    expect((await request(t.app).get(`/users/${bob}/streams`).set('Authorization', `Bearer ${bobToken}`)).status).toBe(
      200,
    );
    // Unauthenticated callers share their address's budget, and meet 429 before 401.
    expect((await request(t.app).post('/streams/add').send({ userId: 'x' })).status).toBe(401);
    expect((await request(t.app).post('/streams/add').send({ userId: 'x' })).status).toBe(401);
    expect((await request(t.app).post('/streams/add').send({ userId: 'x' })).status).toBe(429);
    t.close();
  });

  it('keys on the forwarded client address with TRUST_PROXY=1', async () => {
    const t = await createTestApp({ RATE_LIMIT_PER_MINUTE: '1', TRUST_PROXY: '1' });
    const userId = uniqueId();
    expect((await request(t.app).get(`/users/${userId}/streams`).set('X-Forwarded-For', '203.0.113.1')).status).toBe(
      200,
    );
    expect((await request(t.app).get(`/users/${userId}/streams`).set('X-Forwarded-For', '203.0.113.2')).status).toBe(
      200,
    );
    expect((await request(t.app).get(`/users/${userId}/streams`).set('X-Forwarded-For', '203.0.113.1')).status).toBe(
      429,
    );
    t.close();
  });
});

/** A logger whose JSON lines land in `lines`, synchronously. */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

describe('express-rate-limit validations of TRUST_PROXY', () => {
  it('warns once when X-Forwarded-For arrives while TRUST_PROXY=false (a proxy in front that TRUST_PROXY does not name)', async () => {
    const { logger, lines } = capturingLogger();
    const t = await createTestApp({ RATE_LIMIT_PER_MINUTE: '100' }, { deps: { logger } });
    try {
      const userId = uniqueId();
      for (let i = 0; i < 2; i++) {
        expect(
          (await request(t.app).get(`/users/${userId}/streams`).set('X-Forwarded-For', '203.0.113.9')).status,
        ).toBe(200);
      }
      const warnings = lines.filter((line) => line.code === 'ERR_ERL_UNEXPECTED_X_FORWARDED_FOR');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ level: 40, msg: 'rate limiter: ERR_ERL_UNEXPECTED_X_FORWARDED_FOR' });
    } finally {
      t.close();
    }
  });

  it('stays quiet when TRUST_PROXY names the proxy', async () => {
    const { logger, lines } = capturingLogger();
    const t = await createTestApp({ RATE_LIMIT_PER_MINUTE: '100', TRUST_PROXY: '1' }, { deps: { logger } });
    try {
      expect(
        (await request(t.app).get(`/users/${uniqueId()}/streams`).set('X-Forwarded-For', '203.0.113.9')).status,
      ).toBe(200);
      expect(lines.filter((line) => typeof line.code === 'string')).toEqual([]);
    } finally {
      t.close();
    }
  });

  it('reports a trust proxy of true, should one ever get past the start-up check', async () => {
    const { logger, lines } = capturingLogger();
    const t = await createTestApp({ RATE_LIMIT_PER_MINUTE: '100' }, { deps: { logger } });
    try {
      t.app.set('trust proxy', true);
      expect((await request(t.app).get(`/users/${uniqueId()}/streams`)).status).toBe(200);
      expect(lines.map((line) => line.code)).toContain('ERR_ERL_PERMISSIVE_TRUST_PROXY');
    } finally {
      t.close();
    }
  });
});

describe('request log', () => {
  it("carries the verified token's sub and the client address, so an admin's limit change can be attributed", async () => {
    const { logger, lines } = capturingLogger();
    const t = await createTestApp(
      { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET, TRUST_PROXY: '1' },
      { deps: { logger } },
    );
    try {
      const userId = uniqueId();
      const admin = await hs256({ sub: 'ops-alice', scope: 'streams:admin' });
      const set = await request(t.app)
        .put(`/users/${userId}/limit`)
        .set('Authorization', `Bearer ${admin}`)
        .set('X-Forwarded-For', '198.51.100.23')
        .send({ limit: 5 });
      expect(set.status).toBe(200);
      expect(lines.find((line) => line.reqId === set.headers['x-request-id'])).toMatchObject({
        method: 'PUT',
        path: `/users/${userId}/limit`,
        status: 200,
        sub: 'ops-alice',
        ip: '198.51.100.23',
      });

      const refused = await request(t.app)
        .put(`/users/${userId}/limit`)
        .set('Authorization', 'Bearer not.a.jwt')
        .send({ limit: 9 });
      expect(refused.status).toBe(401);
      const refusedLine = lines.find((line) => line.reqId === refused.headers['x-request-id']);
      expect(refusedLine).toMatchObject({ status: 401, ip: expect.stringMatching(/127\.0\.0\.1$/) });
      expect(refusedLine).not.toHaveProperty('sub');
    } finally {
      t.close();
    }
  });

  it('logs the socket address, not a forwarded one, with TRUST_PROXY=false', async () => {
    const { logger, lines } = capturingLogger();
    const t = await createTestApp({}, { deps: { logger } });
    try {
      const res = await request(t.app).get('/healthz').set('X-Forwarded-For', '198.51.100.23');
      expect(lines.find((line) => line.reqId === res.headers['x-request-id'])).toMatchObject({
        ip: expect.stringMatching(/127\.0\.0\.1$/),
      });
    } finally {
      t.close();
    }
  });
});
