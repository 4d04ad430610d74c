import type { Config } from '../../config';

export interface OpenApiOptions {
  /** BASE_PATH: the API's server URL; /healthz, /readyz and /metrics also answer at the root. */
  readonly basePath: string;
  /** AUTH_MODE=jwt: API operations need a bearer token and may answer 401/403. */
  readonly authRequired: boolean;
  /** RATE_LIMIT_PER_MINUTE > 0: API operations may answer 429. */
  readonly rateLimited: boolean;
}

export function openApiOptions(config: Config): OpenApiOptions {
  return {
    basePath: config.basePath,
    authRequired: config.auth.mode === 'jwt',
    rateLimited: config.rateLimitPerMinute > 0,
  };
}
