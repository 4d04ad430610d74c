#!/usr/bin/env node
// `npm run cost`: builds dist/ when stale (the service the model runs), compiles the model
// (bench/cost/tsconfig.json) into node_modules/.cache/stream-limiter-cost, and runs it.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..', '..');
const outDir = path.join(root, 'node_modules', '.cache', 'stream-limiter-cost');

require(path.join(root, 'scripts', 'ensure-build.js')).ensureBuild();

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
  // tsc still emits on type errors; only errors in the model's own files stop the run.
  if (/^bench\/cost\//m.test(output) || !fs.existsSync(path.join(outDir, 'bench', 'cost', 'main.js'))) process.exit(1);
  process.stderr.write(
    'cost: WARNING: the type errors above are outside bench/cost/; running the emitted model anyway\n',
  );
}
require(path.join(outDir, 'bench', 'cost', 'main.js'));
