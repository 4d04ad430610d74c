import { existsSync, readFileSync } from 'node:fs';

/**
 * The real service's CPU per heartbeat from the last full bench (bench/results/latest.md, scenario
 * `2-heartbeat`, last column: µs of service CPU per request under load). Under load is what a fleet
 * sized for its peak runs at; the simulation's own figure, at a few hundred requests a second, also
 * carries the idle costs of a process (timers, GC, metrics) and is reported beside it.
 */
export function parseBenchCpuMicros(markdown: string): number | undefined {
  const row = markdown.split('\n').find((line) => line.startsWith('| `2-heartbeat`'));
  if (!row) return undefined;
  const cells = row
    .split('|')
    .map((cell) => cell.trim())
    .filter((cell) => cell !== '');
  const value = Number(cells[cells.length - 1]);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

export function readBenchCpuMicros(file: string): number | undefined {
  return existsSync(file) ? parseBenchCpuMicros(readFileSync(file, 'utf8')) : undefined;
}
