import express, { type RequestHandler } from 'express';
import { UnsupportedMediaType } from '../../errors';
import { BODY_LIMIT_BYTES } from '../problem';

const parseJson = express.json({ limit: BODY_LIMIT_BYTES, strict: false, type: () => true });

/**
 * Content type (415), then size (413) and JSON syntax (400), in the contract's
 * order. Any charset parameter is accepted and the body is read as UTF-8,
 * which RFC 8259 makes the only JSON encoding.
 */
export const jsonBody: RequestHandler = (req, res, next) => {
  const contentType = req.headers['content-type'];
  const mediaType = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  if (mediaType !== 'application/json') {
    next(new UnsupportedMediaType());
    return;
  }
  req.headers['content-type'] = 'application/json';
  parseJson(req, res, next);
};
