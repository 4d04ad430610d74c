#!/usr/bin/env node
// Builds dist/ with tsc only when it is missing or older than a file in src/,
// so `npm start` takes about a second on an up-to-date checkout and a fresh
// clone still works without a separate `npm run build`.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const entry = path.join(root, 'dist', 'main.js');

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

function ensureBuild() {
  if (!isStale()) return;
  process.stderr.write('building dist/ (tsc -p tsconfig.build.json)\n');
  const tsc = require.resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  // tsc leaves unchanged outputs untouched; mark the build as fresh.
  const now = new Date();
  fs.utimesSync(entry, now, now);
}

module.exports = { ensureBuild, entry };
if (require.main === module) ensureBuild();
