#!/usr/bin/env node
// npm run docs:lint — lints the OpenAPI document the service serves, generated
// from the built code (dist/), with Redocly CLI's recommended rules.
// The document depends on the settings (BASE_PATH, AUTH_MODE, RATE_LIMIT_PER_MINUTE),
// so both ends are linted: everything on, and everything off under a BASE_PATH.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ensureBuild } = require('./ensure-build');

const root = path.resolve(__dirname, '..');

const VARIANTS = {
  'jwt-rate-limited': { basePath: '', authRequired: true, rateLimited: true },
  'open-under-base-path': { basePath: '/dev', authRequired: false, rateLimited: false },
};

function main() {
  ensureBuild();
  const { buildOpenApiDocument } = require(path.join(root, 'dist', 'http', 'openapi', 'document.js'));
  const redocly = require.resolve('@redocly/cli/bin/cli.js', { paths: [root] });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'openapi-lint-'));
  let failed = false;
  try {
    for (const [name, options] of Object.entries(VARIANTS)) {
      const file = path.join(dir, `${name}.json`);
      fs.writeFileSync(file, JSON.stringify(buildOpenApiDocument(options), null, 2));
      process.stdout.write(`\n== ${name}: ${JSON.stringify(options)}\n`);
      const result = spawnSync(process.execPath, [redocly, 'lint', file, '--format=stylish'], {
        cwd: root, // picks up redocly.yaml when there is one
        stdio: 'inherit',
        // No usage telemetry or update check: CI and developers' machines reach only the package registry.
        env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      });
      if (result.error) throw result.error;
      if (result.status !== 0) failed = true;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (failed) {
    process.stderr.write('\nOpenAPI lint failed\n');
    process.exit(1);
  }
  process.stdout.write('\nOpenAPI lint passed\n');
}

main();
