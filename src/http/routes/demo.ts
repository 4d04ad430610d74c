import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Router, type RequestHandler } from 'express';
import { resource, type RouteEntry } from '../resource';

/** src/http/routes or dist/http/routes: the package root is three levels up either way. */
const ROOT = path.resolve(__dirname, '..', '..', '..');

/**
 * The page's own files live in demo/ and are served as they are; the SDK is
 * the browser build of sdk/ (`tsc -p sdk`, part of `npm run build`), so the
 * page runs the very client players use.
 */
const DEMO_FILES = {
  'demo.js': { dir: path.join(ROOT, 'demo'), type: 'text/javascript; charset=utf-8' },
  'demo.css': { dir: path.join(ROOT, 'demo'), type: 'text/css; charset=utf-8' },
  'stream-limiter-client.js': { dir: path.join(ROOT, 'dist', 'sdk'), type: 'text/javascript; charset=utf-8' },
} as const;

/**
 * GET /demo (with its script, styles and the SDK under /demo/), mounted under
 * BASE_PATH with the API. The page is public like /docs; the API calls it
 * makes go through the guards like any player's.
 */
export function demoRoutes(basePath: string, registry: RouteEntry[]): Router {
  const router = Router();
  // Read on first request rather than at start-up: a missing file fails this page, not the service.
  let page: Promise<string> | undefined;

  resource(router, registry, '/demo', {
    GET: [
      async (_req, res) => {
        page ??= readFile(path.join(ROOT, 'demo', 'index.html'), 'utf8').then((html) =>
          html.replaceAll('{{basePath}}', basePath),
        );
        const html = await page.catch((error: unknown) => {
          page = undefined;
          throw error;
        });
        res.setHeader('Cache-Control', 'no-cache');
        res.type('text/html; charset=utf-8').send(html);
      },
    ],
  });
  for (const [file, { dir, type }] of Object.entries(DEMO_FILES)) {
    // no-cache: the demo follows the deployed SDK and page at once; the files are a few KiB.
    const serve: RequestHandler = (_req, res, next) => {
      res.sendFile(
        file,
        { root: dir, headers: { 'Content-Type': type, 'Cache-Control': 'no-cache' } },
        (error) => error && next(error),
      );
    };
    resource(router, registry, `/demo/${file}`, { GET: [serve] });
  }
  return router;
}
