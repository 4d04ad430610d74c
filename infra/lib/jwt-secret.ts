import { Validations } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';

/**
 * The HS256 key the service verifies player JWTs with (AUTH_JWT_SECRET), generated in Secrets
 * Manager, for both stacks. The construct id 'JwtSecret' is kept as it was, so existing deployments
 * keep their key. `readBy` says when the service reads it, for the rotation acknowledgment.
 */
export function generatedJwtSecret(scope: Construct, readBy: string): secretsmanager.Secret {
  const secret = new secretsmanager.Secret(scope, 'JwtSecret', {
    description: 'HS256 key the stream limiter verifies player JWTs with (AUTH_JWT_SECRET)',
    // 64 alphanumerics is about 380 bits, above the 256 bits HS256 needs.
    generateSecretString: { passwordLength: 64, excludePunctuation: true, includeSpace: false },
  });
  Validations.of(secret).acknowledge({
    id: 'AwsSolutions-SMG4',
    reason:
      `HS256 signing key shared with the token issuer: rotating it invalidates every issued token and ${readBy}, ` +
      'so it is rotated by hand together with the issuer (see infra/README.md).',
  });
  return secret;
}
