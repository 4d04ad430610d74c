#!/usr/bin/env node
// Bundles the /demo page's script (demo/demo.js with the SDK and the Video.js plugin as a player team
// would install them, from their packages' ESM builds) into dist/demo/, with the plugin's styles. Video.js
// itself is not bundled: the page loads the video.js package's own dist files, served by the service.
// The packages must be built first (`npm run build --workspaces`, part of `npm run build`).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'dist', 'demo');

function buildDemo() {
  fs.mkdirSync(out, { recursive: true });
  esbuild.buildSync({
    absWorkingDir: root,
    entryPoints: [path.join(__dirname, 'demo.js')],
    bundle: true,
    format: 'esm',
    target: 'es2020',
    outfile: path.join(out, 'demo.js'),
    logLevel: 'warning',
    legalComments: 'none',
  });
  fs.copyFileSync(
    path.join(root, 'plugins', 'videojs-stream-limiter', 'style.css'),
    path.join(out, 'videojs-stream-limiter.css'),
  );
}

module.exports = { buildDemo };
if (require.main === module) buildDemo();
