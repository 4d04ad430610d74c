import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import {
  ApiError,
  InternalError,
  MalformedJson,
  PayloadTooLarge,
  StoreUnavailable,
  UnsupportedMediaType,
  ValidationError,
} from '../errors';

export const BODY_LIMIT_BYTES = 16 * 1024;

/** The RFC 9457 problem document for an error, carrying the contract's stable `code`. */
export function problemBody(error: ApiError): Record<string, unknown> {
  return {
    type: `urn:stream-limiter:problem:${error.code.toLowerCase().replace(/_/g, '-')}`,
    title: error.title,
    status: error.status,
    detail: error.detail,
    code: error.code,
    ...error.extras,
  };
}

/** Writes the problem document with its headers (Allow, Retry-After, WWW-Authenticate). */
export function sendProblem(res: Response, error: ApiError): void {
  for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
  res
    .status(error.status)
    .type('application/problem+json')
    .send(JSON.stringify(problemBody(error)));
}

/**
 * Failures raised by Express and body-parser before a route runs. body-parser names its failures
 * by `type`; a broken gzip/br body and a path with bad percent-encoding carry only a 4xx status.
 */
function fromFramework(error: { type?: string; status?: number }): ApiError | undefined {
  // The router could not decode a path parameter; userId is the only one the API has.
  if (error instanceof URIError)
    return new ValidationError([{ path: 'userId', message: 'is not valid percent-encoding' }]);
  switch (error.type) {
    case 'entity.too.large':
      return new PayloadTooLarge(BODY_LIMIT_BYTES);
    case 'entity.parse.failed':
      return new MalformedJson();
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return new UnsupportedMediaType('The request body uses an unsupported content encoding.');
    case 'request.aborted':
    case 'request.size.invalid':
      return new MalformedJson('The request body ended before its declared length.');
  }
  switch (error.status) {
    case 413:
      return new PayloadTooLarge(BODY_LIMIT_BYTES);
    case 415:
      return new UnsupportedMediaType();
    case 400:
      return new MalformedJson('The request body could not be decoded.');
  }
  return undefined;
}

/** The one error sink: every failure, expected or not, leaves as problem+json. */
export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const requestId = res.locals.requestId;
    let problem: ApiError;
    if (error instanceof ApiError) {
      problem = error;
      if (error instanceof StoreUnavailable) {
        logger.warn({ reqId: requestId, kind: error.kind, cause: describeCause(error.cause) }, 'store unavailable');
      }
    } else {
      problem = fromFramework(error) ?? new InternalError();
      if (problem instanceof InternalError) {
        logger.error({ reqId: requestId, err: error, method: req.method, path: req.path }, 'unhandled error');
      }
    }
    sendProblem(res, problem);
  };
}

function describeCause(cause: unknown): string | undefined {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  return cause === undefined ? undefined : String(cause);
}
