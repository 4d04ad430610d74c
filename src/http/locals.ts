import type { Principal } from '../auth/token-verifier';
import type { Unauthenticated } from '../errors';

/*
 * What the middleware leave on `res.locals` for the handlers after them, typed through Express's
 * own declaration merging so every reader sees one shape instead of casting `unknown`. Each field
 * is optional: the type cannot know whether the middleware that sets it ran before the reader.
 */
declare global {
  // Express declares Locals in a global namespace; merging into it is the only way to type res.locals.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** Set first, by `requestId`: the caller's X-Request-Id or one made for this request. */
      requestId?: string;
      /** Set by `identifyCaller` when a bearer token verified. */
      principal?: Principal;
      /** Set by `identifyCaller` when it did not; `requireAuthentication` answers it after the rate limit. */
      authError?: Unauthenticated;
    }
  }
}
