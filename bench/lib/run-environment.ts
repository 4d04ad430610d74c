/* The machine and the commit a run measured, for its report. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { repoRoot } from './paths';

export function uptime(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return `load average: ${os
      .loadavg()
      .map((load) => load.toFixed(2))
      .join(', ')}`;
  }
}

export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
