// The launcher behind `npm run bench` (bench/run.js) and `npm run cost` (bench/cost/run.js):
// builds dist/ when stale (the service they spawn, as `npm start` does), compiles the entry's
// TypeScript with its own tsconfig into node_modules/.cache/<cache>, out of git's and ESLint's
// way, and runs it.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

/**
 * @param {object} options
 * @param {string} options.name prefix of the launcher's own messages ("bench", "cost")
 * @param {string} options.tsconfig the entry's tsconfig.json
 * @param {string} options.cache directory under node_modules/.cache the tsconfig emits to
 * @param {string} options.entry the compiled entry, relative to that directory (bench/main.js)
 * @param {string} options.ownDir type errors in files under it stop the run (bench/)
 * @param {boolean} [options.useStaleDist] when building dist/ fails, run the existing one
 */
function launch({ name, tsconfig, cache, entry, ownDir, useStaleDist = false }) {
  const outDir = path.join(root, 'node_modules', '.cache', cache);
  try {
    require(path.join(root, 'scripts', 'ensure-build.js')).ensureBuild();
  } catch (error) {
    // Others may be mid-edit in src/: measure the last good build rather than nothing, and say so.
    if (!useStaleDist || !fs.existsSync(path.join(root, 'dist', 'main.js'))) throw error;
    process.stderr.write(`${name}: WARNING: building dist/ failed (${error.message}); using the existing dist/\n`);
  }

  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', tsconfig], {
    encoding: 'utf8',
  });
  if (tsc.status !== 0) {
    const output = `${tsc.stdout}${tsc.stderr}`;
    process.stderr.write(output);
    // tsc still emits on type errors; only errors in the entry's own files stop the run.
    const ownErrors = new RegExp(`^${ownDir.replace(/[/.]/g, '\\$&')}`, 'm');
    if (ownErrors.test(output) || !fs.existsSync(path.join(outDir, entry))) process.exit(1);
    process.stderr.write(
      `${name}: WARNING: the type errors above are outside ${ownDir}; running the emitted code anyway\n`,
    );
  }
  require(path.join(outDir, entry));
}

module.exports = { launch };
