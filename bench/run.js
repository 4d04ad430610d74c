#!/usr/bin/env node
// `npm run bench`: builds what the bench runs, then runs it. dist/ is the
// service the bench spawns (built only when stale, as `npm start` does); the
// bench itself is TypeScript (bench/*.ts, importing src/ and the DynamoDB
// proxy test helper) compiled by bench/tsconfig.json into
// node_modules/.cache/stream-limiter-bench, out of git's and ESLint's way.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'node_modules', '.cache', 'stream-limiter-bench');

try {
  require(path.join(root, 'scripts', 'ensure-build.js')).ensureBuild();
} catch (error) {
  // Others may be mid-edit in src/: measure the last good build rather than nothing, and say so.
  if (!fs.existsSync(path.join(root, 'dist', 'main.js'))) throw error;
  process.stderr.write(`bench: WARNING: building dist/ failed (${error.message}); using the existing dist/\n`);
}

const tsc = spawnSync(
  process.execPath,
  [require.resolve('typescript/bin/tsc'), '-p', path.join(__dirname, 'tsconfig.json')],
  {
    encoding: 'utf8',
  },
);
if (tsc.status !== 0) {
  const output = `${tsc.stdout}${tsc.stderr}`;
  process.stderr.write(output);
  // tsc still emits on type errors; only errors in the bench's own files stop the run.
  if (/^bench\//m.test(output) || !fs.existsSync(path.join(outDir, 'bench', 'main.js'))) process.exit(1);
  process.stderr.write('bench: WARNING: the type errors above are outside bench/; running the emitted bench anyway\n');
}
require(path.join(outDir, 'bench', 'main.js'));
