import { createHash, createHmac } from 'node:crypto';

/** AWS credentials as the SDK's providers resolve them. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

export interface SignableRequest {
  /** Host header value: hostname, plus `:port` when the port is not the scheme's default. */
  readonly host: string;
  /** Headers to sign besides host and x-amz-date; names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/**
 * Signature Version 4 for POSTs to `/` with no query string: the only shape
 * DynamoDB's JSON protocol uses, so canonical URI and query are constants.
 * The signing key depends only on the secret, the day, the region and the
 * service; it is derived once a day instead of four HMACs per request.
 */
export class SigV4Signer {
  private cachedKey: { secret: string; day: string; key: Buffer } | undefined;

  constructor(
    private readonly region: string,
    private readonly service: string,
  ) {}

  /** Returns the headers to add to the request: x-amz-date, x-amz-security-token (if any) and authorization. */
  sign(request: SignableRequest, credentials: AwsCredentials, now: Date): Record<string, string> {
    const amzDate = now.toISOString().replace(/[-:]|\.\d{3}/g, ''); // 20261123T212000Z
    const day = amzDate.slice(0, 8);
    const added: Record<string, string> = { 'x-amz-date': amzDate };
    if (credentials.sessionToken) added['x-amz-security-token'] = credentials.sessionToken;

    const headers: Record<string, string> = { ...request.headers, ...added, host: request.host };
    const names = Object.keys(headers).sort();
    const signedHeaders = names.join(';');
    const canonicalHeaders = names.map((name) => `${name}:${headers[name]!.trim().replace(/\s+/g, ' ')}\n`).join('');
    const canonicalRequest = ['POST', '/', '', canonicalHeaders, signedHeaders, sha256Hex(request.body)].join('\n');
    const scope = `${day}/${this.region}/${this.service}/aws4_request`;
    const stringToSign = [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
    const signature = createHmac('sha256', this.signingKey(credentials.secretAccessKey, day))
      .update(stringToSign, 'utf8')
      .digest('hex');

    added.authorization = `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return added;
  }

  private signingKey(secret: string, day: string): Buffer {
    const cached = this.cachedKey;
    if (cached && cached.secret === secret && cached.day === day) return cached.key;
    const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), this.region), this.service), 'aws4_request');
    this.cachedKey = { secret, day, key };
    return key;
  }
}
