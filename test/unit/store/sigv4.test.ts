import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { SigV4Signer } from '../../../src/store/sigv4';

/** The SDK's signer, given node's crypto, as the reference our signatures must equal. */
class Sha256 {
  private readonly hash;
  constructor(secret?: unknown) {
    this.hash = secret ? createHmac('sha256', secret as string | Buffer) : createHash('sha256');
  }
  update(data: string | Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {}
}

async function sdkAuthorization(
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
  host: string,
  headers: Record<string, string>,
  body: string,
  now: Date,
): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    credentials,
    region: 'eu-west-1',
    service: 'dynamodb',
    sha256: Sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    { method: 'POST', protocol: 'https:', hostname: host, path: '/', query: {}, headers: { ...headers, host }, body },
    { signingDate: now },
  );
  return signed.headers;
}

describe('SigV4Signer', () => {
  const now = new Date('2026-11-23T21:20:05.123Z');
  const headers = { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.UpdateItem' };
  const body = JSON.stringify({ TableName: 'leases', Key: { userId: { S: 'ü-1' } } });

  it.each([
    {
      what: 'long-term keys, AWS endpoint',
      host: 'dynamodb.eu-west-1.amazonaws.com',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
    },
    {
      what: 'temporary credentials (a task role), host with a port',
      host: 'localhost:8000',
      credentials: { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token/with+chars==' },
    },
  ])('signs a DynamoDB JSON POST exactly as the AWS SDK does: $what', async ({ host, credentials }) => {
    const ours = new SigV4Signer('eu-west-1', 'dynamodb').sign({ host, headers, body }, credentials, now);
    const sdk = await sdkAuthorization(credentials, host, headers, body, now);

    expect(ours['x-amz-date']).toBe('20261123T212005Z');
    expect(ours['x-amz-security-token']).toBe(credentials.sessionToken);
    expect(ours.authorization).toBe(sdk.authorization);
  });

  it('derives a new signing key when the day or the secret changes', async () => {
    const signer = new SigV4Signer('eu-west-1', 'dynamodb');
    const credentials = { accessKeyId: 'AKID', secretAccessKey: 'one' };
    const rotated = { accessKeyId: 'AKID', secretAccessKey: 'two' };
    const nextDay = new Date('2026-11-24T00:00:01Z');
    signer.sign({ host: 'h', headers, body }, credentials, now);

    expect(signer.sign({ host: 'h', headers, body }, credentials, nextDay).authorization).toBe(
      (await sdkAuthorization(credentials, 'h', headers, body, nextDay)).authorization,
    );
    expect(signer.sign({ host: 'h', headers, body }, rotated, nextDay).authorization).toBe(
      (await sdkAuthorization(rotated, 'h', headers, body, nextDay)).authorization,
    );
  });
});
