import path from 'node:path';
import { Router, type RequestHandler } from 'express';
import { buildOpenApiDocument } from '../openapi/document';
import type { OpenApiOptions } from '../openapi/options';
import { resource, type RouteEntry } from '../resource';

/** Swagger UI's files, served from node_modules: the page works offline and under helmet's CSP. */
const SWAGGER_UI_FILES = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
} as const;

const swaggerUiDir = () => path.dirname(require.resolve('swagger-ui-dist/package.json'));

function docsPage(basePath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Stream limiter API</title>
<link rel="stylesheet" href="${basePath}/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="${basePath}/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${basePath}/docs/swagger-ui-bundle.js"></script>
<script src="${basePath}/docs/swagger-initializer.js"></script>
</body>
</html>
`;
}

/** A file, not an inline script: helmet's default CSP (script-src 'self') refuses inline scripts. */
function initializer(basePath: string): string {
  const options = {
    url: `${basePath}/openapi.json`,
    dom_id: '#swagger-ui',
    deepLinking: true,
    // No badge fetched from the public validator: the page calls only this service.
    validatorUrl: null,
  };
  return `'use strict';
window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle(Object.assign(${JSON.stringify(options)}, {
    presets: [SwaggerUIBundle.presets.apis],
    layout: 'BaseLayout',
  }));
});
`;
}

/**
 * GET /openapi.json and GET /docs (with its assets under /docs/), mounted
 * under BASE_PATH with the API. Never behind the guards: reading the
 * documentation needs no token and costs no rate-limit budget.
 */
export function docsRoutes(options: OpenApiOptions, registry: RouteEntry[]): Router {
  const router = Router();
  // Built on first request, then served as the same bytes.
  let document: string | undefined;
  const page = docsPage(options.basePath);
  const script = initializer(options.basePath);
  const dir = swaggerUiDir();

  resource(router, registry, '/openapi.json', {
    GET: [
      (_req, res) => {
        document ??= JSON.stringify(buildOpenApiDocument(options));
        res.setHeader('Cache-Control', 'no-cache');
        res.type('application/json').send(document);
      },
    ],
  });
  resource(router, registry, '/docs', {
    GET: [(_req, res) => void res.setHeader('Cache-Control', 'no-cache').type('text/html; charset=utf-8').send(page)],
  });
  resource(router, registry, '/docs/swagger-initializer.js', {
    GET: [
      (_req, res) =>
        void res.setHeader('Cache-Control', 'no-cache').type('text/javascript; charset=utf-8').send(script),
    ],
  });
  for (const [file, contentType] of Object.entries(SWAGGER_UI_FILES)) {
    const serve: RequestHandler = (_req, res, next) => {
      res.sendFile(
        file,
        { root: dir, maxAge: '1d', headers: { 'Content-Type': contentType } },
        (error) => error && next(error),
      );
    };
    resource(router, registry, `/docs/${file}`, { GET: [serve] });
  }
  return router;
}
