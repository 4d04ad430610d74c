#!/usr/bin/env node
// `npm run cost`: the model (bench/cost/tsconfig.json) built and run by bench/launch.js.
'use strict';
const path = require('node:path');
const { launch } = require('../launch');

launch({
  name: 'cost',
  tsconfig: path.join(__dirname, 'tsconfig.json'),
  cache: 'stream-limiter-cost',
  entry: path.join('bench', 'cost', 'main.js'),
  ownDir: 'bench/cost/',
});
