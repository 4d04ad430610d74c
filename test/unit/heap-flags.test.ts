import { readFileSync } from 'node:fs';
import path from 'node:path';

/*
 * The service's heap settings live in package.json's start script; the
 * container runs node directly (PID 1), so its CMD repeats them. The benchmark
 * reads them from package.json. This keeps the two that are written twice equal.
 */
const root = path.resolve(__dirname, '..', '..');
const flagsOf = (words: string[]) => words.filter((word) => word.startsWith('--')).sort();

describe('heap flags', () => {
  it('are the same for npm start and the container', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: { start: string } };
    const cmd = /^CMD (\[.*\])$/m.exec(readFileSync(path.join(root, 'Dockerfile'), 'utf8'))?.[1];

    const fromStart = flagsOf(pkg.scripts.start.split(/\s+/));
    expect(fromStart).toEqual(expect.arrayContaining([expect.stringMatching(/^--max-old-space-size=\d+$/)]));
    expect(flagsOf(JSON.parse(cmd ?? '[]') as string[])).toEqual(fromStart);
  });
});
