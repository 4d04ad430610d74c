import pino from 'pino';

/**
 * The service's logger: JSON lines on stdout, written asynchronously. With
 * synchronous writes every request log line is its own write(2), about a
 * twentieth of a request's CPU in the benchmark; asynchronously, lines that
 * arrive while a write is in flight leave together in the next one, and at
 * low traffic each line still goes out at once. What is still buffered at
 * exit is flushed synchronously, so a drain's last lines are not lost.
 */
export function createLogger(level: string): pino.Logger {
  const destination = pino.destination({ dest: 1, sync: false });
  process.once('exit', () => {
    try {
      destination.flushSync();
    } catch {
      // Nothing more can be done for log lines at exit.
    }
  });
  return pino({ level, base: { service: 'stream-limiter' } }, destination);
}
