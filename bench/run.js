#!/usr/bin/env node
// `npm run bench`: the bench (bench/**/*.ts, importing src/ and support/) built and run by
// bench/launch.js. If dist/ cannot be rebuilt (others mid-edit in src/), the last good build is
// measured, with a warning.
'use strict';
const path = require('node:path');
const { launch } = require('./launch');

launch({
  name: 'bench',
  tsconfig: path.join(__dirname, 'tsconfig.json'),
  cache: 'stream-limiter-bench',
  entry: path.join('bench', 'main.js'),
  ownDir: 'bench/',
  useStaleDist: true,
});
