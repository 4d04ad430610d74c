import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  readonly name: string;
  readonly percent: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly what: string;
  /** Busy (non-idle) CPU time in the window summarized, ms. */
  readonly busyMs: number;
  /** Share of busy (non-idle) samples per package or area. */
  readonly areas: HotSpot[];
  /** Share of busy samples per function (self time). */
  readonly functions: HotSpot[];
}

/** Where a frame's code lives: an npm package, the service's own code, Node's internals, or V8's pseudo-frames. */
function areaOf(frame: ProfileNode['callFrame']): string {
  if (!frame.url)
    return frame.functionName.startsWith('(') ? frame.functionName : 'native code (V8 builtins, syscalls)';
  const own =
    /stream-limiter-bench\/(src|bench|test)\/(.*)$/.exec(frame.url) ?? /\/main\/(dist|src)\/(.*)$/.exec(frame.url);
  if (own) return `${own[1] === 'bench' ? 'bench' : 'service'} ${own[2]}`;
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url);
  if (modules) return modules[1]!;
  if (frame.url.startsWith('node:')) return `node ${frame.url.slice(5).split('/')[0]}`;
  return frame.url;
}

function shortUrl(url: string): string {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length);
  const cache = url.indexOf('stream-limiter-bench/');
  if (cache >= 0) return url.slice(cache + 'stream-limiter-bench/'.length);
  return url.replace(/^file:\/\//, '');
}

/**
 * Self time by area and by function from the newest .cpuprofile in `dir`
 * (written by node --cpu-prof), leaving out the first `skipMs` of the
 * process's life (start-up: module loading, JIT of cold code).
 */
export function summarizeProfile(dir: string, skipMs: number, top = 15): ProfileSummary {
  const file = readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => path.join(dir, name))
    .sort()
    .pop();
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  let elapsedUs = 0;
  profile.samples.forEach((id, index) => {
    const node = byId.get(id);
    const delta = profile.timeDeltas[index] ?? 0;
    elapsedUs += delta;
    if (elapsedUs < skipMs * 1000 || !node || node.callFrame.functionName === '(idle)') return;
    busy += delta;
    const area = areaOf(node.callFrame);
    areas.set(area, (areas.get(area) ?? 0) + delta);
    const frame = node.callFrame;
    const name = frame.url
      ? `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
      : frame.functionName;
    functions.set(name, (functions.get(name) ?? 0) + delta);
  });
  const rank = (map: Map<string, number>) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, time]) => ({ name, percent: Math.round((1000 * time) / busy) / 10 }));
  return { file, what: '', busyMs: Math.round(busy / 1000), areas: rank(areas), functions: rank(functions) };
}
