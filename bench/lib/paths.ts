import { existsSync } from 'node:fs';
import path from 'node:path';

/** The repository root, found from wherever this file was compiled to (bench/tsconfig.json puts it under node_modules/.cache). */
function findRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'bench', 'run.js')) && existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`bench: repository root not found above ${__dirname}`);
  }
}

export const repoRoot = findRoot();
export const serviceEntry = path.join(repoRoot, 'dist', 'main.js');
export const scratchDir = path.join(repoRoot, 'bench', '.tmp');
/** The compiled bench/ directory: the children the bench spawns are there. */
export const compiledBench = path.resolve(__dirname, '..');
