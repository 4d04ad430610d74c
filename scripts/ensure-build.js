#!/usr/bin/env node
// Builds dist/ with tsc only when it is missing or older than a file in src/,
// so `npm start` takes about a second on an up-to-date checkout and a fresh
// clone still works without a separate `npm run build`. Likewise the /demo page's
// bundle (dist/demo/): the SDK and Video.js plugin packages, then demo/build.js.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const entry = path.join(root, 'dist', 'main.js');
const demoEntry = path.join(root, 'dist', 'demo', 'demo.js');
const packages = ['sdk', path.join('plugins', 'videojs-stream-limiter')];

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

function newestDemoSource() {
  const sources = packages.map((dir) => newestMtime(path.join(root, dir, 'src')));
  for (const file of ['demo/demo.js', 'demo/build.js', 'plugins/videojs-stream-limiter/style.css']) {
    sources.push(fs.statSync(path.join(root, file)).mtimeMs);
  }
  return Math.max(...sources);
}

function isDemoStale() {
  return !fs.existsSync(demoEntry) || newestDemoSource() > fs.statSync(demoEntry).mtimeMs;
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
  if (isDemoStale()) {
    process.stderr.write('building the SDK and plugin packages and dist/demo/ (demo/build.js)\n');
    try {
      for (const dir of packages) {
        for (const config of ['tsconfig.esm.json', 'tsconfig.cjs.json']) {
          execFileSync(process.execPath, [tsc(), '-p', path.join(root, dir, config)], { stdio: 'inherit' });
        }
        fs.writeFileSync(path.join(root, dir, 'dist', 'esm', 'package.json'), '{"type":"module"}\n');
        fs.writeFileSync(path.join(root, dir, 'dist', 'cjs', 'package.json'), '{"type":"commonjs"}\n');
      }
      require(path.join(root, 'demo', 'build.js')).buildDemo();
      fs.utimesSync(demoEntry, now, now);
    } catch (error) {
      // Only the /demo page needs it (e.g. a production-only install has no tsc): start the service anyway.
      process.stderr.write(`could not build dist/demo/, so /demo will not work: ${error.message}\n`);
    }
  }
}

module.exports = { ensureBuild, entry };
if (require.main === module) ensureBuild();
