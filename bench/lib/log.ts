/** Progress lines on stdout, stamped with the seconds since the bench started. */
export const benchStarted = performance.now();
export function log(message: string): void {
  const elapsed = ((performance.now() - benchStarted) / 1000).toFixed(0).padStart(4);
  process.stdout.write(`[bench ${elapsed}s] ${message}\n`);
}
