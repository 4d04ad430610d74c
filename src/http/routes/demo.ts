import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Router, type RequestHandler } from 'express';
import { resource, type RouteEntry } from '../resource';

/** src/http/routes or dist/http/routes: the package root is three levels up either way. */
const ROOT = path.resolve(__dirname, '..', '..', '..');

/** video.js's own dist files (a production dependency), found lazily: a missing one fails this page only. */
function videojsDist(): string {
  return path.dirname(require.resolve('video.js/dist/video.min.js'));
}

/**
 * The page's files, all same-origin so the default CSP (script-src 'self', media from 'self') holds:
 * demo/ as it is (page, styles, the test clip), dist/demo/ as demo/build.js bundles it (the page's script
 * with the SDK and the Video.js plugin, and the plugin's styles), and Video.js from its package.
 */
const DEMO_FILES: Record<string, { dir: () => string; type: string }> = {
  'demo.js': { dir: () => path.join(ROOT, 'dist', 'demo'), type: 'text/javascript; charset=utf-8' },
  'videojs-stream-limiter.css': { dir: () => path.join(ROOT, 'dist', 'demo'), type: 'text/css; charset=utf-8' },
  'demo.css': { dir: () => path.join(ROOT, 'demo'), type: 'text/css; charset=utf-8' },
  'clip.webm': { dir: () => path.join(ROOT, 'demo'), type: 'video/webm' },
  'video.min.js': { dir: videojsDist, type: 'text/javascript; charset=utf-8' },
  'video-js.min.css': { dir: videojsDist, type: 'text/css; charset=utf-8' },
};

/**
 * GET /demo (with its files under /demo/), mounted under BASE_PATH with the API. The page is public like
 * /docs; the API calls it makes go through the guards like any player's.
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
    // no-cache: the demo follows the deployed packages and page at once (revalidation is cheap with ETags).
    // sendFile answers Range requests, which media elements make for the clip.
    const serve: RequestHandler = (_req, res, next) => {
      res.sendFile(
        file,
        { root: dir(), headers: { 'Content-Type': type, 'Cache-Control': 'no-cache' } },
        (error) => error && next(error),
      );
    };
    resource(router, registry, `/demo/${file}`, { GET: [serve] });
  }
  return router;
}
