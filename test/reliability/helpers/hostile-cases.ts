import fc from 'fast-check';
import type { Answer, RawRequest } from './http-client';
import { validStreamId, validUserId } from './table-check';

/*
 * Generated hostile requests for every endpoint. Each case carries its own
 * expectation on top of the common one (never 5xx; errors are problem+json
 * with a code): e.g. a contract-valid id must never be refused, a body over
 * 16 KiB is a 413, a wrong content type a 415.
 */

export interface HostileCase {
  readonly category: string;
  readonly request: RawRequest;
  /** Returns what is wrong with the answer, beyond the common checks, or undefined. */
  readonly expect?: (answer: Answer) => string | undefined;
}

export const BODY_LIMIT = 16 * 1024;

/** Ids that follow the contract's patterns but look like DynamoDB expression syntax or item attributes. */
export const TRICKY_VALID_STREAM_IDS = [
  'L:',
  'T:x',
  'L:L:x',
  'T:',
  'a:v0',
  'n0',
  'v0',
  'ver',
  'cnt',
  'tcnt',
  'lim',
  'pin',
  'gcAt',
  'userId',
  'e',
  's',
  'a.e',
  'x..y',
  'L:x.e',
  '0',
  '9',
  'a-',
  'a_',
  'a:',
  'A'.repeat(64),
  `x${':'.repeat(63)}`,
  'SET',
  'REMOVE',
  'attribute_exists',
];
export const TRICKY_VALID_USER_IDS = [
  'u:L:',
  'u@T:x',
  'a+b',
  'ver',
  'cnt',
  'n0',
  'v0',
  'a.b.c',
  'x@example.com',
  'B'.repeat(128),
  'readyz',
  '0',
  'gcAt',
  'a-b_c.d:e@f+g',
];

/** What an attacker types into an id: expression syntax, separators, control and bidi characters, lone surrogates. */
export const INJECTIONS = [
  'a) OR attribute_exists(#x',
  ':v0',
  '#n0',
  'L:',
  'T:x',
  '#readyz',
  'a\u0000b',
  '\u0000',
  'x OR 1=1',
  "'; DROP TABLE x; --",
  'cnt = cnt + :v0',
  'SET #n0 = :v0',
  'a, REMOVE #x',
  'L:#n0',
  ':v0 OR :v1',
  '#n0.#n1',
  'a[0]',
  'attribute_not_exists(userId)',
  'size(#n0) > :v0',
  '${jndi:ldap://x}',
  '{{constructor}}',
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'prototype',
  '\u202Eevil',
  '\u0627\u0644\u0639\u0631\u0628\u064A\u0629',
  'שלום',
  '\uD800',
  '\uDFFF',
  'a\uD83D',
  '\uDE00b',
  '\uFEFFa',
  'a\u200Bb',
  'ｕｓｅｒ',
  'A'.repeat(65),
  'A'.repeat(129),
  '',
  ' ',
  ' a',
  'a ',
  '\n',
  '\r\n',
  '\t',
  '%00',
  '../../etc/passwd',
  '..',
  '.',
  '-a',
  '_a',
  ':a',
  'null',
  'a/b',
  'a\\b',
  'a"b',
  "a'b",
  'a;b',
  'a b',
  'a#b',
  'a$b',
  'a%b',
  'a&b',
  'a*b',
  'a=b',
  'a?b',
  'a|b',
  'é',
  '😀',
];

const codeUnits = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 24 })
  .map((units) => String.fromCharCode(...units));
const validIdChars = fc
  .string({ unit: fc.constantFrom(...'Aa0Zz9._:-@+'.split('')), minLength: 0, maxLength: 20 })
  .map((tail) => `a${tail}`);

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...INJECTIONS) },
  { weight: 2, arbitrary: fc.constantFrom(...TRICKY_VALID_STREAM_IDS, ...TRICKY_VALID_USER_IDS) },
  { weight: 2, arbitrary: codeUnits },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 1, arbitrary: validIdChars },
  { weight: 1, arbitrary: fc.integer({ min: 60, max: 300 }).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...INJECTIONS), validIdChars).map(([a, b]) => b + a) },
);

const hostileKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('userId', 'streamId', 'deviceId', 'metadata', 'replaceStreamId', 'limit') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'streamID',
      'UserId',
      'toString',
      'valueOf',
      'hasOwnProperty',
      '',
      ' userId',
      'userId\u0000',
    ),
  },
  { weight: 1, arbitrary: hostileString },
);

/** JSON text of a value; objects are written as key/value pairs so keys such as __proto__ and duplicate keys survive. */
type JsonText = string;
const text = (value: unknown): JsonText => JSON.stringify(value) ?? 'null';
const objectText = (pairs: ReadonlyArray<readonly [string, JsonText]>): JsonText =>
  `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

const { hostileValue } = fc.letrec<{ hostileValue: JsonText }>((tie) => ({
  hostileValue: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 5, arbitrary: hostileString.map(text) },
    { weight: 1, arbitrary: fc.integer().map(text) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '1e308',
        '-0',
        '1e400',
        '0.1',
        '-1',
        '101',
        '3.5',
        '9007199254740993',
        'true',
        'false',
        'null',
        '""',
        '[]',
        '{}',
      ),
    },
    { weight: 1, arbitrary: fc.array(tie('hostileValue'), { maxLength: 4 }).map((items) => `[${items.join(',')}]`) },
    { weight: 1, arbitrary: fc.array(fc.tuple(hostileKey, tie('hostileValue')), { maxLength: 4 }).map(objectText) },
  ),
}));

const ENDPOINTS = ['/streams/add', '/streams/heartbeat', '/streams/remove', 'PUT /users/{id}/limit'] as const;
const endpoint = fc.constantFrom(...ENDPOINTS);
const validUser = fc.constantFrom(...TRICKY_VALID_USER_IDS);
const validStream = fc.constantFrom(...TRICKY_VALID_STREAM_IDS);

function post(
  target: (typeof ENDPOINTS)[number],
  body: string | Buffer,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): RawRequest {
  if (target === 'PUT /users/{id}/limit') return { method: 'PUT', path: '/users/hostile-admin/limit', headers, body };
  return { method: 'POST', path: target, headers, body };
}

const code = (answer: Answer) => (answer.json as { code?: string } | undefined)?.code;
const expectCode =
  (...codes: string[]) =>
  (answer: Answer) =>
    codes.includes(code(answer) ?? '') ? undefined : `expected ${codes.join(' or ')}`;
const notRefused = (answer: Answer) =>
  answer.status === 400 || answer.status === 413 || answer.status === 415
    ? 'a contract-valid request was refused'
    : undefined;

/** JSON of any shape, to every endpoint. */
const anyJson = fc
  .tuple(
    endpoint,
    fc.oneof(
      hostileValue,
      fc.jsonValue().map(text),
      fc.anything().map((v) => text(v)),
    ),
  )
  .map(([target, body]): HostileCase => ({ category: 'any JSON value', request: post(target, body) }));

/** Objects mixing the real field names with hostile keys (__proto__, duplicates, typos) and hostile values. */
const structured = fc
  .tuple(
    endpoint,
    fc.option(validUser, { nil: undefined }),
    fc.array(fc.tuple(hostileKey, hostileValue), { minLength: 1, maxLength: 6 }),
  )
  .map(([target, userId, pairs]): HostileCase => ({
    category: 'objects with hostile keys and values',
    request: post(
      target,
      objectText([...(userId !== undefined ? ([['userId', text(userId)]] as const) : []), ...pairs]),
    ),
  }));

/** Only string ids: whether the contract accepts them is known, so valid ones must pass and invalid ones be a VALIDATION_ERROR. */
const idBodies = fc
  .tuple(
    fc.constantFrom('/streams/add', '/streams/heartbeat', '/streams/remove'),
    fc.oneof(validUser, hostileString),
    fc.oneof(validStream, hostileString),
    fc.option(fc.oneof(validStream, hostileString), { nil: undefined }),
    fc.option(fc.oneof(validUser, hostileString), { nil: undefined }),
  )
  .map(([target, userId, streamId, replaceStreamId, deviceId]): HostileCase => {
    const isAdd = target === '/streams/add';
    const body = {
      userId,
      streamId,
      ...(isAdd && replaceStreamId !== undefined && { replaceStreamId }),
      ...(isAdd && deviceId !== undefined && { deviceId }),
    };
    const valid =
      validUserId(userId) &&
      validStreamId(streamId) &&
      (body.replaceStreamId === undefined ||
        (validStreamId(body.replaceStreamId) && body.replaceStreamId !== streamId)) &&
      (body.deviceId === undefined || (validUserId(body.deviceId) && body.deviceId.length <= 128));
    return {
      category: valid ? 'contract-valid ids that look like expressions' : 'ids with injection attempts',
      request: post(target, JSON.stringify(body)),
      expect: valid ? notRefused : expectCode('VALIDATION_ERROR'),
    };
  });

export const METADATA_CATEGORY = 'valid adds with hostile metadata values';

/** Valid adds whose metadata values carry null bytes, RTL marks, lone surrogates and 256-character strings. */
const hostileMetadata = fc
  .tuple(
    fc.tuple(validUser, fc.nat()).map(([user, n]) => `${user.slice(0, 100)}-m${n.toString(36)}`),
    validStream,
    fc.dictionary(
      fc.constantFrom('title', 'constructor', 'toString', 'valueOf', 'L:x', 'T:y', 'a.b', 'n0', 'v0'),
      fc.oneof(hostileString, fc.constant('é'.repeat(256))),
      {
        maxKeys: 10,
      },
    ),
  )
  .map(([userId, streamId, metadata]): HostileCase => {
    const bytes = Object.entries(metadata).reduce(
      (sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value),
      0,
    );
    const valid = bytes <= 2048 && Object.values(metadata).every((value) => [...value].length <= 256);
    return {
      category: METADATA_CATEGORY,
      request: post('/streams/add', JSON.stringify({ userId, streamId, metadata })),
      expect: valid ? notRefused : expectCode('VALIDATION_ERROR'),
    };
  });

/** Nesting: 10,000 nested arrays (over the limit), a few thousand (under it), nested objects inside fields. */
const nesting = fc
  .tuple(endpoint, fc.integer({ min: 1, max: 12_000 }), fc.constantFrom('array', 'object', 'in-field', 'in-metadata'))
  .map(([target, depth, shape]): HostileCase => {
    let body: string;
    switch (shape) {
      case 'array':
        body = '['.repeat(depth) + ']'.repeat(depth);
        break;
      case 'object':
        body = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
        break;
      case 'in-field':
        body = `{"userId":${'['.repeat(depth)}${']'.repeat(depth)}}`;
        break;
      default:
        body = `{"userId":"u1","streamId":"s1","metadata":{"title":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}}`;
    }
    const tooLarge = Buffer.byteLength(body) > BODY_LIMIT;
    return {
      category: 'deep nesting',
      request: post(target, body),
      expect: tooLarge ? expectCode('PAYLOAD_TOO_LARGE') : expectCode('VALIDATION_ERROR'),
    };
  });

/** Bodies around the 16 KiB limit, in ASCII and multi-byte characters, and far above it. */
const sizes = fc
  .tuple(
    fc.constantFrom('/streams/add', '/streams/heartbeat', '/streams/remove'),
    fc.integer({ min: BODY_LIMIT - 40, max: BODY_LIMIT + 40 }),
    fc.constantFrom('x', 'é', '€', '😀', '\u202E'),
    fc.constantFrom('userId', 'streamId', 'metadata'),
    fc.oneof(
      { weight: 6, arbitrary: fc.constant(1) },
      { weight: 3, arbitrary: fc.constant(4) },
      { weight: 1, arbitrary: fc.constant(64) },
    ),
  )
  .map(([target, goal, unit, field, times]): HostileCase => {
    const skeleton = (filler: string) =>
      field === 'metadata'
        ? JSON.stringify({ userId: 'size-user', streamId: 's', metadata: { a: filler } })
        : JSON.stringify({ userId: 'size-user', streamId: 's', [field]: filler });
    const unitBytes = Buffer.byteLength(unit);
    const fixed = Buffer.byteLength(skeleton(''));
    const count = Math.max(0, Math.floor((goal * times - fixed) / unitBytes));
    const body = skeleton(unit.repeat(count));
    const bytes = Buffer.byteLength(body);
    return {
      category: 'bodies near and above 16 KiB',
      request: post(target, body),
      expect: (answer) => {
        if (bytes > BODY_LIMIT)
          return code(answer) === 'PAYLOAD_TOO_LARGE' ? undefined : `${bytes} bytes must be a 413`;
        return answer.status === 413 ? `${bytes} bytes is within the limit, not a 413` : undefined;
      },
    };
  });

/** Raw bytes that are not JSON, or JSON with invalid UTF-8 inside strings. */
const rawBytes = fc
  .tuple(
    endpoint,
    fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
      fc
        .uint8Array({ minLength: 1, maxLength: 8 })
        .map((bytes) =>
          Buffer.concat([Buffer.from('{"userId":"'), Buffer.from(bytes), Buffer.from('","streamId":"s1"}')]),
        ),
      fc.constantFrom(
        Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]),
        Buffer.from('\ufeff{"userId":"u1","streamId":"s1"}'),
        Buffer.from('{"userId":"u1",}'),
        Buffer.from("{'userId':'u1'}"),
        Buffer.from('{"userId":"u1"'),
        Buffer.from('userId=u1&streamId=s1'),
        Buffer.from('<xml/>'),
        Buffer.from('NaN'),
        Buffer.from('Infinity'),
        Buffer.from('undefined'),
        Buffer.from(''),
        Buffer.from(' '),
        Buffer.from('\u0000'),
        Buffer.from('{"userId":"\\ud800","streamId":"\\udfff"}'),
        Buffer.from('{"userId":"a\\u0000b"}'),
        Buffer.from('{"__proto__":{"userId":"u1"},"streamId":"s1"}'),
        Buffer.from('{"constructor":{"prototype":{"polluted":true}}}'),
        Buffer.from('{"userId":"u1","userId":"u2","streamId":"s1"}'),
      ),
    ),
  )
  .map(([target, body]): HostileCase => ({ category: 'raw bytes and broken JSON', request: post(target, body) }));

const WRONG_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'text/json',
  'application/jsonp',
  'application/json-patch+json',
  'application/problem+json',
  'json',
  '*/*',
  'application/*',
  'application',
  'application/json2',
  ';application/json',
  'application/octet-stream',
  'text/html; charset=utf-8',
];
const FINE_TYPES = [
  'application/json',
  'APPLICATION/JSON',
  'application/json; charset=utf-8',
  'application/json;charset=ISO-8859-1',
  'Application/Json ; charset="utf-16"',
];

/** Wrong and odd content types and encodings on valid bodies. */
const contentTypes = fc
  .tuple(
    endpoint,
    fc.constantFrom(...WRONG_TYPES, ...FINE_TYPES, '<none>'),
    fc.constantFrom('', 'gzip', 'deflate', 'br', 'identity', 'compress', 'x-unknown', 'gzip, gzip'),
  )
  .map(([target, type, encoding]): HostileCase => {
    const headers: Record<string, string> = {
      ...(type !== '<none>' && { 'content-type': type }),
      ...(encoding !== '' && { 'content-encoding': encoding }),
    };
    const wrongType = !FINE_TYPES.includes(type);
    return {
      category: 'wrong content types and encodings',
      request: post(target, JSON.stringify({ userId: 'ct-user', streamId: 's1' }), headers),
      expect: wrongType ? expectCode('UNSUPPORTED_MEDIA_TYPE') : undefined,
    };
  });

const KNOWN = [
  { path: '/streams/add', allowed: ['POST'] },
  { path: '/streams/heartbeat', allowed: ['POST'] },
  { path: '/streams/remove', allowed: ['POST'] },
  { path: '/users/method-user/streams', allowed: ['GET', 'HEAD'] },
  { path: '/users/method-user/limit', allowed: ['PUT', 'DELETE'] },
  { path: '/healthz', allowed: ['GET', 'HEAD'] },
  { path: '/readyz', allowed: ['GET', 'HEAD'] },
];
const UNKNOWN = [
  '/streams',
  '/streams/',
  '/streams/add/x',
  '/users',
  '/users/x',
  '/users/x/streams/y',
  '/users//streams',
  '/streamsadd',
  '/%2e%2e/streams/add',
  '/streams/%61dd',
  '/admin',
  '/.env',
  '/users/x/limit/y',
];

/** Wrong methods on known paths (405 with Allow) and unknown paths (404). */
const methods = fc
  .tuple(
    fc.constantFrom(...KNOWN),
    fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND', 'LOCK', 'PURGE', 'SEARCH'),
    fc.constantFrom(...UNKNOWN),
    fc.boolean(),
  )
  .map(([known, method, unknown, useUnknown]): HostileCase => {
    if (useUnknown) {
      return {
        category: 'wrong methods and unknown paths',
        request: {
          method,
          path: unknown,
          ...(method !== 'GET' && { headers: { 'content-type': 'application/json' }, body: '{}' }),
        },
        expect: (answer) =>
          answer.status === 404 || answer.status === 405 || (method === 'OPTIONS' && answer.status === 204)
            ? undefined
            : 'expected 404 or 405',
      };
    }
    const allowed = known.allowed.includes(method);
    return {
      category: 'wrong methods and unknown paths',
      request: {
        method,
        path: known.path,
        ...(method !== 'GET' && { headers: { 'content-type': 'application/json' }, body: '{"limit":1}' }),
      },
      expect: (answer) => {
        if (method === 'OPTIONS')
          return answer.status === 204 && answer.headers.allow ? undefined : 'OPTIONS must be 204 with Allow';
        if (allowed) return undefined;
        return answer.status === 405 && code(answer) === 'METHOD_NOT_ALLOWED' && answer.headers.allow
          ? undefined
          : 'expected 405 METHOD_NOT_ALLOWED with Allow';
      },
    };
  });

const RAW_SEGMENTS = [
  '%',
  '%ZZ',
  '%C3%28',
  '%ED%A0%80',
  '%FF',
  '%00',
  '%2F',
  '%2e%2e',
  '..',
  '.',
  '%20',
  '%0A',
  'a%2Fb',
  '%25',
  '%u0041',
  '~',
  "'",
  '!',
  '$',
  '&',
  '(',
  ')',
  '*',
  '+',
  ',',
  ';',
  '=',
  ':',
  '@',
];

/** Hostile {userId} path segments on GET streams and PUT/DELETE limit. */
const pathSegments = fc
  .tuple(
    fc.oneof(
      {
        weight: 3,
        arbitrary: hostileString
          .map(wellFormed)
          .map((s) => ({ segment: encodeURIComponent(s), decoded: s as string | undefined })),
      },
      {
        weight: 2,
        arbitrary: fc
          .constantFrom(...RAW_SEGMENTS)
          .map((segment) => ({ segment, decoded: undefined as string | undefined })),
      },
      {
        weight: 1,
        arbitrary: validUser.map((s) => ({ segment: encodeURIComponent(s), decoded: s as string | undefined })),
      },
      {
        weight: 1,
        arbitrary: fc
          .integer({ min: 100, max: 6000 })
          .map((n) => ({ segment: 'p'.repeat(n), decoded: 'p'.repeat(n) as string | undefined })),
      },
    ),
    fc.constantFrom('GET /streams', 'PUT /limit', 'DELETE /limit'),
  )
  .map(([{ segment, decoded }, route]): HostileCase => {
    const [method, tail] = route.split(' ') as [string, string];
    const valid = decoded !== undefined && validUserId(decoded);
    return {
      category: 'hostile path segments',
      request: {
        method,
        path: `/users/${segment}${tail}`,
        ...(method === 'PUT' && { headers: { 'content-type': 'application/json' }, body: '{"limit":2}' }),
      },
      expect: (answer) => {
        if (decoded === undefined) return answer.status >= 400 ? undefined : 'a malformed segment must not succeed';
        if (valid) return answer.status === 200 ? undefined : 'a valid userId in the path must be served';
        return answer.status === 400 || answer.status === 404
          ? undefined
          : 'an invalid userId in the path must be a 400 (or 404 when it splits the path)';
      },
    };
  });

/** Lone surrogates cannot be percent-encoded; they travel as U+FFFD, which is just as invalid in an id. */
function wellFormed(value: string): string {
  return value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** Hostile X-Request-Id values on an ordinary request (the response must carry a well-formed one). */
const requestIds = fc
  .tuple(
    fc.oneof(
      fc.string({ unit: fc.constantFrom(...'aZ9._:-/<>"\' {}$%\\'.split('')), maxLength: 300 }),
      fc.constantFrom('', ' ', 'x'.repeat(128), 'x'.repeat(129), '../x', '${x}'),
    ),
    endpoint,
  )
  .map(([id, target]): HostileCase => ({
    category: 'hostile X-Request-Id',
    request: post(target, JSON.stringify({ userId: 'rid-user', streamId: 'r1' }), {
      'content-type': 'application/json',
      'x-request-id': id,
    }),
    expect: (answer) => {
      const echoed = answer.headers['x-request-id'];
      if (/^[A-Za-z0-9._:-]{1,128}$/.test(id) && echoed !== id) return 'a well-formed X-Request-Id must be echoed';
      return undefined;
    },
  }));

/** The generated plan: category arbitraries and how many of each, 10,600 in all. */
export const PLAN: ReadonlyArray<readonly [fc.Arbitrary<HostileCase>, number]> = [
  [anyJson, 1500],
  [structured, 2500],
  [idBodies, 2000],
  [hostileMetadata, 600],
  [nesting, 400],
  [sizes, 600],
  [rawBytes, 1000],
  [contentTypes, 600],
  [methods, 500],
  [pathSegments, 900],
  [requestIds, 300],
];

export function generateCases(seed: number): HostileCase[] {
  return PLAN.flatMap(([arbitrary, count], i) => fc.sample(arbitrary, { numRuns: count, seed: seed + i }));
}
