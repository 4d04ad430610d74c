#!/usr/bin/env node
// Builds dist/ with tsc only when it is missing or older than a file in src/,
// so `npm start` takes about a second on an up-to-date checkout and a fresh
// clone still works without a separate `npm run build`. Likewise the SDK's
// browser build (dist/sdk/, `tsc -p sdk`), which the /demo page serves.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const entry = path.join(root, 'dist', 'main.js');
const sdkEntry = path.join(root, 'dist', 'sdk', 'stream-limiter-client.js');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const mtime = entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

function isStale() {
  if (!fs.existsSync(entry)) return true;
  const sources = Math.max(
    newestMtime(path.join(root, 'src')),
    fs.statSync(path.join(root, 'tsconfig.json')).mtimeMs,
    fs.statSync(path.join(root, 'tsconfig.build.json')).mtimeMs,
  );
  return sources > fs.statSync(entry).mtimeMs;
}

function isSdkStale() {
  if (!fs.existsSync(sdkEntry)) return true;
  return newestMtime(path.join(root, 'sdk')) > fs.statSync(sdkEntry).mtimeMs;
}

function ensureBuild() {
  const tsc = () => require.resolve('typescript/bin/tsc');
  // tsc leaves unchanged outputs untouched; each build marks its output as fresh.
  const now = new Date();
  if (isStale()) {
    process.stderr.write('building dist/ (tsc -p tsconfig.build.json)\n');
    execFileSync(process.execPath, [tsc(), '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
    fs.utimesSync(entry, now, now);
  }
  if (isSdkStale()) {
    process.stderr.write('building dist/sdk/ (tsc -p sdk)\n');
    try {
      execFileSync(process.execPath, [tsc(), '-p', path.join(root, 'sdk')], { stdio: 'inherit' });
      fs.utimesSync(sdkEntry, now, now);
    } catch (error) {
      // Only the /demo page needs it (e.g. a production-only install has no tsc): start the service anyway.
      process.stderr.write(`could not build dist/sdk/, so /demo will not work: ${error.message}\n`);
    }
  }
}

module.exports = { ensureBuild, entry };
if (require.main === module) ensureBuild();
