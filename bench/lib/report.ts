import type { ProfileSummary } from './profile';
import type { CpuRecord, GrowthRecord, RssRecord, RunRecord, SeedRecord, TargetRow } from './types';

export interface BenchResults {
  date: string;
  environment: {
    node: string;
    cpus: string;
    memoryGb: number;
    commit: string;
    uptimeAtStart: string;
    uptimeAtEnd: string;
    loadAverage1m: { min: number; mean: number; max: number };
    loadGenerator: string;
    service: Record<string, unknown>;
  };
  knobs: Record<string, unknown>;
  floors: RunRecord[];
  scenarios: RunRecord[];
  rss?: RssRecord[];
  cpu?: CpuRecord[];
  profiles?: ProfileSummary[];
  growth?: { records: GrowthRecord[]; seeding: SeedRecord[] };
  targets?: TargetRow[];
  totalSeconds: number;
}

const TARGETS = {
  dynamoPerHeartbeat: 1.0,
  dynamoPerRemove: 1.0,
  dynamoPerAdd: 1.05,
  p50Ratio: 1.3,
  p99Ratio: 1.5,
  cpuRatio: 8,
  rssMb: 150,
  /** Our reading of "flat": 1M-user latencies within 1.25× of 1k-user ones at p50 and p99. */
  growthRatio: 1.25,
};

const fixed = (value: number | undefined, digits = 2) =>
  value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits);
const ratio = (value: number, floor: number | undefined) => (floor ? value / floor : NaN);

/** The floor each service run is compared with: the mean of the runs before and after the scenarios, per path. */
export function floorOf(results: BenchResults, path: 'proxy' | 'direct'): { p50: number; p99: number } | undefined {
  const runs = results.floors.filter(
    (run) => run.name === `floor-${path}-before` || run.name === `floor-${path}-after`,
  );
  if (runs.length === 0) return undefined;
  const mean = (pick: (run: RunRecord) => number) => runs.reduce((sum, run) => sum + pick(run), 0) / runs.length;
  return { p50: mean((run) => run.latencyMs.p50), p99: mean((run) => run.latencyMs.p99) };
}

/** Runs of a reference server instead of the service (`ref-*`): shown next to the service, never judged as it. */
export const isReference = (run: RunRecord) => run.name.startsWith('ref-');
const atConcurrency32 = (results: BenchResults) =>
  results.scenarios.filter((run) => run.connections === 32 && !isReference(run));

export function evaluateTargets(results: BenchResults): TargetRow[] {
  const rows: TargetRow[] = [];
  const scenario = (name: string) => results.scenarios.find((run) => run.name === name);
  const per = (name: string, key: string) => scenario(name)?.dynamo?.per[key];

  const heartbeat = per('2-heartbeat', 'heartbeat');
  if (heartbeat !== undefined) {
    rows.push({
      target: 'DynamoDB requests per heartbeat = 1.00',
      figure: fixed(heartbeat, 4),
      reached: heartbeat <= TARGETS.dynamoPerHeartbeat + 0.005,
    });
  }
  const remove = per('2b-remove', 'remove');
  if (remove !== undefined) {
    rows.push({
      target: 'DynamoDB requests per remove (with streamId) = 1.00',
      figure: fixed(remove, 4),
      reached: remove <= TARGETS.dynamoPerRemove + 0.005,
    });
  }
  for (const name of ['2a-admit', '4-cold-start']) {
    const add = per(name, 'add');
    const run = scenario(name);
    if (add === undefined || !run) continue;
    const failed = run.errors.status5xx + run.errors.connectionErrors + run.errors.timeouts;
    rows.push(
      failed === 0
        ? {
            target: `DynamoDB requests per uncontended add ≤ 1.05 (${name})`,
            figure: fixed(add, 4),
            reached: add <= TARGETS.dynamoPerAdd,
          }
        : {
            target: `DynamoDB requests per uncontended add ≤ 1.05 (${name})`,
            figure: `${fixed(add, 4)}, not judged: ${failed} of ${run.responses} adds failed (5xx/connection errors), and a failed add may or may not have sent its UpdateItem (judged on 2a-admit)`,
            reached: null,
          },
    );
  }
  for (const run of results.scenarios) {
    const failed = run.errors.status5xx + run.errors.connectionErrors + run.errors.timeouts;
    if (failed > 0) {
      rows.push({
        target: `${run.name}: no errors (5xx, connection errors, timeouts)`,
        figure: `${failed} of ${run.responses} answers: ${statusList(run.non2xx)}; connection errors ${run.errors.connectionErrors}, timeouts ${run.errors.timeouts}`,
        reached: false,
      });
    }
  }
  const pair = per('1-add-remove', 'add+remove pair');
  if (pair !== undefined) {
    const limit = TARGETS.dynamoPerAdd + TARGETS.dynamoPerRemove;
    rows.push({
      target: `DynamoDB requests per add+remove pair ≤ ${fixed(limit)} (1-add-remove)`,
      figure: fixed(pair, 4),
      reached: pair <= limit,
    });
  }
  const floor = floorOf(results, 'proxy');
  for (const run of atConcurrency32(results)) {
    // Judged against the floor measured just before the run when there is one (the machine's load drifts), else the mean floor.
    const judge = run.pairedFloor ?? floor;
    if (!judge) continue;
    const p50 = ratio(run.latencyMs.p50, judge.p50);
    const p99 = ratio(run.latencyMs.p99, judge.p99);
    rows.push({
      target: `${run.name}: p50 ≤ 1.3× and p99 ≤ 1.5× the raw UpdateItem through the proxy (c=32${run.pairedFloor ? ', floor measured just before' : ''})`,
      figure: `p50 ${fixed(p50)}× (${fixed(run.latencyMs.p50)} vs ${fixed(judge.p50)} ms), p99 ${fixed(p99)}× (${fixed(run.latencyMs.p99)} vs ${fixed(judge.p99)} ms)`,
      reached: p50 <= TARGETS.p50Ratio && p99 <= TARGETS.p99Ratio,
    });
  }
  const bare = results.cpu?.find((record) => record.server === 'bare');
  const service = results.cpu?.find((record) => record.server === 'service');
  if (bare && service) {
    const times = service.cpuUsPerRequest / bare.cpuUsPerRequest;
    rows.push({
      target: 'service CPU per request ≤ 8× a bare node:http JSON handler (store stubbed, request log on)',
      figure: `${fixed(times, 1)}× (${service.cpuUsPerRequest} vs ${bare.cpuUsPerRequest} µs)`,
      reached: times <= TARGETS.cpuRatio,
    });
  }
  for (const rss of results.rss ?? []) {
    rows.push({
      target: `service RSS ≤ 150 MB with ${rss.connections} open idle connections, ${rss.when}`,
      figure: `${rss.rssWithConnectionsMb} MB (${rss.rssBeforeMb} MB before opening them; peak so far ${rss.peakRssMb} MB)`,
      reached: rss.rssWithConnectionsMb <= TARGETS.rssMb,
    });
  }
  const growth = results.growth?.records;
  if (growth && growth.length >= 2) {
    const sizes = [...new Set(growth.map((record) => record.usersInTable))].sort((a, b) => a - b);
    const few = sizes[0]!;
    const many = sizes[sizes.length - 1]!;
    if (many > few) {
      for (const op of ['heartbeat', 'add'] as const) {
        const meanOf = (users: number, pick: (run: RunRecord) => number) => {
          const runs = growth.filter((record) => record.usersInTable === users).map((record) => record[op]);
          return runs.reduce((sum, run) => sum + pick(run), 0) / runs.length;
        };
        const [p50Few, p50Many] = [meanOf(few, (run) => run.latencyMs.p50), meanOf(many, (run) => run.latencyMs.p50)];
        const [p99Few, p99Many] = [meanOf(few, (run) => run.latencyMs.p99), meanOf(many, (run) => run.latencyMs.p99)];
        rows.push({
          target: `${op} latency flat from ${few} to ${many} users in the table (our bar: ≤ ${TARGETS.growthRatio}× at p50 and p99, mean over rounds)`,
          figure: `p50 ${fixed(p50Many / p50Few)}×, p99 ${fixed(p99Many / p99Few)}× (p50 ${fixed(p50Few)} → ${fixed(p50Many)} ms, p99 ${fixed(p99Few)} → ${fixed(p99Many)} ms)`,
          reached: p50Many / p50Few <= TARGETS.growthRatio && p99Many / p99Few <= TARGETS.growthRatio,
        });
      }
    }
  }
  return rows;
}

function statusList(record: Record<string, number>): string {
  const entries = Object.entries(record);
  return entries.length === 0 ? '–' : entries.map(([status, count]) => `${status}: ${count}`).join(', ');
}

function dynamoCell(run: RunRecord): string {
  if (!run.dynamo || !run.apiRequests) return '–';
  const operations = statusList(run.dynamo.byOperation);
  const headline = Object.entries(run.dynamo.per)
    .filter(([key]) => !key.includes(' per ') && key !== 'API request')
    .map(([key, value]) => `**${fixed(value, 4)}/${key}**`);
  return `${headline.join(', ') || fixed(run.dynamo.per['API request'], 4) + '/request'} (${operations})`;
}

function apiCell(run: RunRecord): string {
  return run.apiRequests ? statusList(run.apiRequests) : `${run.responses} UpdateItem`;
}

function errorsCell(run: RunRecord): string {
  const { status5xx, connectionErrors, timeouts } = run.errors;
  return status5xx + connectionErrors + timeouts === 0
    ? '0'
    : `5xx ${status5xx}, conn ${connectionErrors}, timeouts ${timeouts}`;
}

function runTable(runs: RunRecord[], withService: boolean): string[] {
  const lines = [
    `| run | conns | requests | req/s | p50 ms | p99 ms | p99.9 ms | non-2xx | errors | DynamoDB requests per API request (counted by the proxy)${withService ? ' | service CPU µs/req¹' : ''} |`,
    `|---|---:|---|---:|---:|---:|---:|---|---|---${withService ? '|---:' : ''}|`,
  ];
  for (const run of runs) {
    const cells = [
      `\`${run.name}\` ${run.label}${run.note ? ` — ${run.note}` : ''}`,
      String(run.connections),
      apiCell(run),
      String(run.requestsPerSecond),
      fixed(run.latencyMs.p50, 2),
      fixed(run.latencyMs.p99, 2),
      fixed(run.latencyMs.p999, 2),
      statusList(run.non2xx),
      errorsCell(run),
      dynamoCell(run),
    ];
    if (withService) cells.push(fixed(run.cpuUsPerRequest?.service, 0));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

export function renderMarkdown(results: BenchResults): string {
  const env = results.environment;
  const lines: string[] = [
    `# Benchmark results — ${results.date.slice(0, 10)}`,
    '',
    `Commit \`${env.commit}\`, Node ${env.node}, ${env.cpus}, ${env.memoryGb} GB RAM. The machine is shared: ` +
      `1-minute load average ${env.loadAverage1m.min}–${env.loadAverage1m.max} (mean ${env.loadAverage1m.mean}) during the run.`,
    '',
    `- \`uptime\` at start: \`${env.uptimeAtStart}\``,
    `- \`uptime\` at end: \`${env.uptimeAtEnd}\``,
    `- whole bench: ${results.totalSeconds} s`,
    `- load generator: ${env.loadGenerator}; latencies are every answer's own time (any status), at full resolution`,
    `- service: \`${String(env.service.entry)}\`, LOG_LEVEL=${String(env.service.logLevel)} (${String(env.service.logDestination)}), ${String(env.service.store)}; ` +
      `env ${Object.entries(env.service.env as Record<string, string>)
        .map(([key, value]) => `${key}=${value}`)
        .join(', ')}`,
    `- knobs: ${Object.entries(results.knobs)
      .filter(([key]) => key !== 'resultsDir')
      .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : String(value)}`)
      .join(', ')}`,
    '',
  ];

  if (results.targets?.length) {
    lines.push('## Targets', '', '| target | measured | reached |', '|---|---|---|');
    for (const row of results.targets)
      lines.push(
        `| ${row.target} | ${row.figure} | ${row.reached === null ? 'n/a' : row.reached ? 'yes' : '**no**'} |`,
      );
    lines.push('');
  }

  if (results.scenarios.length) {
    lines.push('## Scenarios (one service process, store through the counting proxy)', '');
    lines.push(...runTable(results.scenarios, true), '');
    lines.push(
      '¹ user+system CPU of the service process (from /proc, 10 ms ticks) during the run, per API request; this includes its DynamoDB client and the HTTP calls to DynamoDB, unlike the stubbed figure below.',
      '',
      '`ref-forwarder` is not the service: it is the least any HTTP service in that place can do, a bare node:http handler that sends the heartbeat’s UpdateItem with DynamoWire and answers JSON (no Express, validation, logging or rules). Its ratio to the floor is what a service costs on this machine by merely being a process with two HTTP hops; the service’s distance from it is what the service itself adds. Its “service CPU” is the forwarder’s.',
      '',
    );
  }

  if (results.floors.length) {
    lines.push('## The floor: one raw UpdateItem at the same concurrency, same DynamoDB Local', '');
    lines.push(...runTable(results.floors, false), '');
    const proxy = floorOf(results, 'proxy');
    const direct = floorOf(results, 'direct');
    if (proxy && direct && results.scenarios.length) {
      lines.push(
        'Each service run at c=32 is compared with three floors: the raw UpdateItem through the proxy measured just before that run (the judge for the targets: same path as the service, same moment on a shared machine), ' +
          `and the means of the runs before and after all scenarios, through the proxy (p50 ${fixed(proxy.p50, 3)} ms, p99 ${fixed(proxy.p99, 3)} ms) and direct (p50 ${fixed(direct.p50, 3)} ms, p99 ${fixed(direct.p99, 3)} ms).`,
        '',
        '| run | p50 ms | p99 ms | paired floor p50 / p99 ms | p50 ÷ paired | p99 ÷ paired | p50 ÷ mean proxy floor | p99 ÷ mean proxy floor | p50 ÷ mean direct floor | p99 ÷ mean direct floor |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      );
      for (const run of results.scenarios.filter((scenario) => scenario.pairedFloor)) {
        const paired = run.pairedFloor;
        // The mean floors were measured at c=32: only comparable with runs at c=32.
        const mean = (value: number, floorValue: number) =>
          run.connections === 32 ? `${fixed(ratio(value, floorValue))}×` : 'n/a';
        lines.push(
          `| \`${run.name}\`${run.connections !== 32 ? ` (c=${run.connections}, floor at c=${run.connections} too; not judged)` : ''} | ${fixed(run.latencyMs.p50)} | ${fixed(run.latencyMs.p99)} | ${paired ? `${fixed(paired.p50)} / ${fixed(paired.p99)}` : 'n/a'} | ${fixed(ratio(run.latencyMs.p50, paired?.p50))}× | ${fixed(ratio(run.latencyMs.p99, paired?.p99))}× | ${mean(run.latencyMs.p50, proxy.p50)} | ${mean(run.latencyMs.p99, proxy.p99)} | ${mean(run.latencyMs.p50, direct.p50)} | ${mean(run.latencyMs.p99, direct.p99)} |`,
        );
      }
      lines.push('');
    }
  }

  const metered = [...results.scenarios, ...results.floors].filter((run) => run.cpuUsPerRequest);
  if (metered.length) {
    const names = [...new Set(metered.flatMap((run) => Object.keys(run.cpuUsPerRequest!)))];
    lines.push(
      '## Who pays for a request: CPU µs per request by process',
      '',
      'user+system CPU of each process during the run ÷ API requests (÷ UpdateItems for the floors); the load generator is this bench process (autocannon, or the named client for `floor-wire-proxy-*` and `floor-sdk-proxy-*`). All of them share the same 2 cores with other users of the machine, so at c=32 a run is CPU-bound and its latency follows from Little’s law (≈ connections ÷ throughput).',
      '',
      `| run | req/s | ${names.join(' | ')} | total |`,
      `|---|---:|${names.map(() => '---:').join('|')}|---:|`,
    );
    for (const run of metered) {
      const cells = names.map((name) => fixed(run.cpuUsPerRequest![name], 0));
      const total = Object.values(run.cpuUsPerRequest!).reduce((sum, value) => sum + value, 0);
      lines.push(`| \`${run.name}\` | ${run.requestsPerSecond} | ${cells.join(' | ')} | ${fixed(total, 0)} |`);
    }
    lines.push('');
  }

  if (results.cpu?.length) {
    const bare = results.cpu.find((record) => record.server === 'bare');
    lines.push(
      '## CPU per request, store stubbed in-process',
      '',
      'Each server in its own child process, all up at once; `process.cpuUsage()` delta over the measured windows ÷ requests served in them. Same load for all: heartbeat requests (`{ userId, streamId }`, 1,000 users) paced by autocannon over 32 connections, after a warm-up; the servers are measured in alternating windows so that the machine’s drift lands on all of them alike.',
      '',
      '| server | requests | req/s served | CPU µs/req (user + system) | per window | × bare | p50 / p99 ms | RSS MB |',
      '|---|---:|---:|---:|---|---:|---:|---:|',
    );
    for (const record of results.cpu) {
      lines.push(
        `| \`${record.server}\`: ${record.description}${record.logLines !== undefined ? ` (${record.logLines} log lines written in all)` : ''}${record.stubCallUs !== undefined ? `; the stubbed send alone costs ${record.stubCallUs} µs` : ''} | ${record.served} | ${record.achievedRate} | ${record.cpuUsPerRequest} (${record.userUsPerRequest} + ${record.systemUsPerRequest}) | ${record.roundsUsPerRequest.join(', ')} | ${bare ? fixed(record.cpuUsPerRequest / bare.cpuUsPerRequest, 1) : 'n/a'}× | ${fixed(record.latencyMs.p50)} / ${fixed(record.latencyMs.p99)} | ${record.rssMb} |`,
      );
    }
    lines.push('');
  }

  for (const profile of results.profiles ?? []) {
    lines.push(
      `## Where the CPU goes: ${profile.what}`,
      '',
      `\`node --cpu-prof\`, self time, idle and start-up excluded (${profile.busyMs} ms of busy CPU sampled).`,
      '',
      '| by package / area | % | | by function | % |',
      '|---|---:|---|---|---:|',
    );
    const count = Math.max(profile.areas.length, profile.functions.length);
    for (let index = 0; index < count; index++) {
      const area = profile.areas[index];
      const fn = profile.functions[index];
      lines.push(
        `| ${area ? `\`${area.name}\`` : ''} | ${area?.percent ?? ''} | | ${fn ? `\`${fn.name}\`` : ''} | ${fn?.percent ?? ''} |`,
      );
    }
    lines.push('');
  }

  if (results.rss?.length) {
    lines.push(
      '## Memory: the service process with idle connections',
      '',
      'Each time, 1,000 (BENCH_IDLE_CONNECTIONS) connections each send `GET /healthz` and then stay open, idle (keep-alive); RSS from /proc 2 s later; the connections are then closed.',
      '',
      '| when | RSS before, MB | RSS with the connections open, MB | peak RSS so far (VmHWM), MB |',
      '|---|---:|---:|---:|',
    );
    for (const rss of results.rss)
      lines.push(`| ${rss.when} | ${rss.rssBeforeMb} | ${rss.rssWithConnectionsMb} | ${rss.peakRssMb} |`);
    lines.push('');
  }

  if (results.growth) {
    lines.push('## Growth: latency with few vs many users in the table', '');
    lines.push(
      'Two tables, each with its own service process (same build and settings, store through the proxy), seeded with items shaped like the service’s (`{ userId, ver: 1, cnt: 1, sl: 1, z: 0, gcAt, L:s1: { s, e, w: 1 } }`), both warmed, then measured in alternation, round after round, so that drift and warm-up favour neither size. Heartbeats go to random seeded users (on the big table each user at most once, so that no lease renewed earlier has lapsed); adds give a seeded user a 2nd or 3rd stream.',
      '',
    );
    for (const seeding of results.growth.seeding) {
      lines.push(
        `- \`${seeding.table}\`: seeded ${seeding.users} users in ${seeding.seconds} s (${seeding.itemsPerSecond} items/s, BatchWriteItem 25 per call, ${String(results.knobs.seedWriters)} writers)${seeding.stoppedEarly ? ' — **stopped early at BENCH_SEED_MAX_S**' : ''}`,
      );
    }
    lines.push(
      '',
      '| users in table | round | operation | requests | req/s | p50 ms | p99 ms | p99.9 ms | non-2xx | errors | DynamoDB requests per request |',
      '|---:|---:|---|---:|---:|---:|---:|---:|---|---|---|',
    );
    for (const record of results.growth.records) {
      for (const run of [record.heartbeat, record.add]) {
        const op = run === record.heartbeat ? 'heartbeat' : 'add';
        lines.push(
          `| ${record.usersInTable} | ${record.round} | ${op} | ${run.responses} | ${run.requestsPerSecond} | ${fixed(run.latencyMs.p50)} | ${fixed(run.latencyMs.p99)} | ${fixed(run.latencyMs.p999)} | ${statusList(run.non2xx)} | ${errorsCell(run)} | ${dynamoCell(run)} |`,
        );
      }
    }
    lines.push('');
  }
  lines.push('Latency distributions: [latency.svg](latency.svg).', '');
  return lines.join('\n');
}

// --- chart --------------------------------------------------------------------

const COLORS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#9467bd',
  '#ff7f0e',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#bcbd22',
  '#7f7f7f',
];

interface Series {
  readonly name: string;
  readonly points: Array<[number, number]>;
  readonly dashed: boolean;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One panel: x = percentile on a "nines" scale (log10 of 1/(1-p)), y = latency in ms on a log scale. */
function panel(title: string, series: Series[], top: number, width: number, height: number): string {
  const left = 60;
  const plotWidth = width - left - 300;
  const plotHeight = height - 70;
  const plotTop = top + 30;
  const all = series.flatMap((line) => line.points.map(([, ms]) => ms)).filter((ms) => ms > 0);
  if (all.length === 0) return '';
  const minY = Math.log10(Math.max(0.05, Math.min(...all)));
  const low = Math.floor(minY);
  // Top of the axis: the first 1-2-5 step at or above the slowest answer.
  const slowest = Math.max(...all);
  const decade = 10 ** Math.floor(Math.log10(slowest));
  const axisTop = [1, 2, 5, 10].map((step) => step * decade).find((value) => value >= slowest) ?? 10 * decade;
  const high = Math.max(low + 1, Math.log10(axisTop));
  const maxX = 3.5;
  const x = (q: number) => left + (Math.min(maxX, Math.log10(1 / Math.max(1e-9, 1 - q))) / maxX) * plotWidth;
  const y = (ms: number) =>
    plotTop + plotHeight - ((Math.log10(Math.max(ms, 10 ** low)) - low) / (high - low)) * plotHeight;
  const parts: string[] = [
    `<text x="${left}" y="${top + 18}" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  for (let exponent = low; exponent <= high; exponent++) {
    for (const step of [1, 2, 5]) {
      const ms = step * 10 ** exponent;
      if (Math.log10(ms) > high + 1e-9) continue;
      const yy = y(ms).toFixed(1);
      parts.push(
        `<line x1="${left}" x2="${left + plotWidth}" y1="${yy}" y2="${yy}" stroke="#ddd" stroke-width="${step === 1 ? 1 : 0.5}"/>`,
      );
      parts.push(
        `<text x="${left - 6}" y="${yy}" font-size="11" text-anchor="end" dominant-baseline="middle">${ms >= 1 ? ms : ms.toPrecision(1)}</text>`,
      );
    }
  }
  for (const [label, q] of [
    ['p0', 0],
    ['p50', 0.5],
    ['p90', 0.9],
    ['p99', 0.99],
    ['p99.9', 0.999],
  ] as const) {
    const xx = x(q).toFixed(1);
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${plotTop}" y2="${plotTop + plotHeight}" stroke="#ddd"/>`);
    parts.push(`<text x="${xx}" y="${plotTop + plotHeight + 16}" font-size="11" text-anchor="middle">${label}</text>`);
  }
  parts.push(
    `<text x="16" y="${plotTop + plotHeight / 2}" font-size="12" transform="rotate(-90 16 ${plotTop + plotHeight / 2})" text-anchor="middle">latency, ms (log)</text>`,
  );
  parts.push(
    `<rect x="${left}" y="${plotTop}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#999"/>`,
  );
  series.forEach((line, index) => {
    const color = COLORS[index % COLORS.length]!;
    const d = line.points.map(([q, ms], i) => `${i === 0 ? 'M' : 'L'}${x(q).toFixed(1)},${y(ms).toFixed(1)}`).join(' ');
    parts.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="1.8"${line.dashed ? ' stroke-dasharray="5,3"' : ''}/>`,
    );
    const legendY = plotTop + 8 + index * 18;
    parts.push(
      `<line x1="${left + plotWidth + 14}" x2="${left + plotWidth + 40}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="2"${line.dashed ? ' stroke-dasharray="5,3"' : ''}/>`,
    );
    parts.push(
      `<text x="${left + plotWidth + 46}" y="${legendY}" font-size="11" dominant-baseline="middle">${escapeXml(line.name)}</text>`,
    );
  });
  return parts.join('\n');
}

/** Latency distributions per run as a hand-written SVG: scenarios with the floors, and growth. */
export function renderSvg(results: BenchResults): string {
  const width = 1000;
  const panelHeight = 440;
  const main: Series[] = [
    ...results.scenarios.map((run) => ({
      name: `${run.name} (c=${run.connections})`,
      points: run.distribution,
      dashed: false,
    })),
    ...results.floors
      .filter((run) => run.name.endsWith('-before') || !run.name.endsWith('-after'))
      .map((run) => ({ name: run.name, points: run.distribution, dashed: true })),
  ];
  const fewest = Math.min(...(results.growth?.records ?? []).map((record) => record.usersInTable));
  const growth: Series[] = (results.growth?.records ?? []).flatMap((record) => [
    {
      name: `heartbeat, ${record.usersInTable} users, round ${record.round}`,
      points: record.heartbeat.distribution,
      dashed: record.usersInTable !== fewest,
    },
    {
      name: `add, ${record.usersInTable} users, round ${record.round}`,
      points: record.add.distribution,
      dashed: record.usersInTable !== fewest,
    },
  ]);
  const panels = [
    panel(
      `Latency distribution per run (${results.date.slice(0, 10)}); dashed: raw UpdateItem floors`,
      main,
      0,
      width,
      panelHeight,
    ),
  ];
  if (growth.length)
    panels.push(
      panel(
        'Growth: same operations, few (solid) vs many (dashed) users in the table',
        growth,
        panelHeight,
        width,
        panelHeight,
      ),
    );
  const height = panelHeight * panels.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}
