import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compiledBench } from './paths';

const children = new Set<ChildProcess>();
const preload = path.join(compiledBench, 'lib', 'exit-with-parent.js');

/** Spawns a Node process with an IPC channel that ends it when the bench ends; tracked for {@link killChildren}. */
export function spawnNode(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions } = {},
): ChildProcess {
  const child = spawn(process.execPath, ['-r', preload, ...args], {
    env: options.env ?? process.env,
    stdio: options.stdio ?? ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Sends `signal`, and SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopChild(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
): Promise<void> {
  if (!isRunning(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const forced = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(forced);
}

/** Last resort on failure or Ctrl-C: every process the bench spawned, by its own handle. */
export async function killChildren(): Promise<void> {
  await Promise.all([...children].map((child) => stopChild(child, 'SIGTERM', 5000)));
}

let nextId = 0;
/** One request/answer over a child's IPC channel: sends `{ id, ...message }`, resolves with the reply carrying that id. */
export function rpc<T>(child: ChildProcess, message: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
  const id = ++nextId;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`no answer to ${JSON.stringify(message)} in ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (reply: unknown) => {
      if ((reply as { id?: number }).id !== id) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(reply as T);
    };
    child.on('message', onMessage);
    child.send({ id, ...message });
  });
}

/** Waits for the first IPC message satisfying `accept` (e.g. a "ready" report), failing if the child exits first. */
export function firstMessage<T>(
  child: ChildProcess,
  accept: (message: unknown) => boolean,
  timeoutMs = 60_000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`child ${child.pid} sent nothing in ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: unknown) => {
      if (!accept(message)) return;
      cleanup();
      resolve(message as T);
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`child ${child.pid} exited (${code ?? signal}) before it was ready`));
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

const TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux

/** User+system CPU time of another process, in ms (from /proc; 10 ms resolution). */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** The java process under DynamoDB Local's watchdog shell (src/store/local-dynamo.ts). */
export function findJavaChild(shellPid: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${shellPid}/task/${shellPid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    return children.find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'java');
  } catch {
    return undefined;
  }
}

/**
 * CPU time of this process and of other processes over a window, per unit of
 * work: who pays for a request on this 2-core machine.
 */
export function startCpuMeter(others: Record<string, number | undefined>): {
  stop(units: number): Record<string, number>;
} {
  const ownStart = process.cpuUsage();
  const starts = Object.entries(others)
    .filter((entry): entry is [string, number] => entry[1] !== undefined)
    .map(([name, pid]) => ({ name, pid, ms: processCpuMs(pid) }));
  return {
    stop: (units) => {
      const own = process.cpuUsage(ownStart);
      const perUnit: Record<string, number> = {
        'load generator': round((own.user + own.system) / Math.max(1, units), 1),
      };
      for (const { name, pid, ms } of starts)
        perUnit[name] = round(((processCpuMs(pid) - ms) * 1000) / Math.max(1, units), 1);
      return perUnit;
    },
  };
}

/** Resident set size now and its peak (VmHWM), in MB. */
export function processMemoryMb(pid: number): { rssMb: number; peakRssMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: round(kb('VmRSS') / 1024, 1), peakRssMb: round(kb('VmHWM') / 1024, 1) };
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
