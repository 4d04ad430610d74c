/*
 * The Lambda entry point (src/lambda.ts) as Lambda runs it: bundled by esbuild as the CDK stack
 * bundles it, loaded into a fresh Node process per cold start, invoked with API Gateway HTTP API
 * events in-process (no HTTP server), against DynamoDB Local.
 *
 * - cold start: node bootstrap, module load (require of the bundle), and the first invoke, an add
 *   whose UpdateItem is the container's first DynamoDB call (client set-up, TCP connection);
 * - warm: CPU per invoke (process.cpuUsage over many heartbeats in the same process), which is
 *   what Lambda bills as duration once divided by the CPU share the memory size buys.
 *
 * Figures are of this machine (x86, Node 20), not of Lambda's arm64 Node 22: compare them
 * between runs and with the ECS service's CPU per request, not with billed milliseconds.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { createTable } from '../lib/dynamo-raw';
import { compiledBench, repoRoot } from '../lib/paths';

const run = promisify(execFile);

export interface LambdaBenchResult {
  readonly coldStarts: readonly ColdStart[];
  readonly median: ColdStart;
  readonly warmCpuUsPerInvoke: number;
  readonly warmWallUsPerInvoke: number;
  readonly bundleKb: number;
  readonly markdown: string;
}

interface ColdStart {
  readonly bootstrapMs: number;
  readonly loadMs: number;
  readonly firstInvokeMs: number;
  readonly totalMs: number;
}

/** The child: one container's life. Prints one BENCH_RESULT line (EMF and log lines share stdout). */
const CHILD = `
const t0 = performance.now();
const { handler } = require(process.env.BUNDLE);
const t1 = performance.now();
const event = (rawPath, body) => ({ version: '2.0', routeKey: '$default', rawPath, rawQueryString: '',
  headers: { host: 'bench', 'content-type': 'application/json' },
  requestContext: { stage: 'dev', requestId: 'r', http: { method: 'POST', path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7' } },
  body: JSON.stringify(body), isBase64Encoded: false });
(async () => {
  const userId = 'bench-' + process.pid;
  const first = await handler(event('/dev/streams/add', { userId, streamId: 's1' }), {});
  const t2 = performance.now();
  if (first.statusCode !== 201) throw new Error('first add answered ' + first.statusCode + ' ' + first.body);
  for (let i = 0; i < 50; i++) await handler(event('/dev/streams/heartbeat', { userId, streamId: 's1' }), {});
  const n = Number(process.env.WARM_INVOKES);
  const cpu = process.cpuUsage();
  const w0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = await handler(event('/dev/streams/heartbeat', { userId, streamId: 's1' }), {});
    if (r.statusCode !== 200) throw new Error('heartbeat answered ' + r.statusCode);
  }
  const used = process.cpuUsage(cpu);
  const w1 = performance.now();
  process.stdout.write('\\nBENCH_RESULT ' + JSON.stringify({ bootstrapMs: t0, loadMs: t1 - t0, firstInvokeMs: t2 - t1, totalMs: t2,
    warmCpuUs: (used.user + used.system) / n, warmWallUs: ((w1 - w0) * 1000) / n }) + '\\n');
})().catch((error) => { process.stderr.write(String(error && error.stack || error)); process.exit(1); });
`;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const r1 = (value: number) => Math.round(value * 10) / 10;

/** Bundles src/lambda.ts with the flags infra/lib/serverless-stack.ts gives NodejsFunction. */
async function bundle(outDir: string): Promise<{ file: string; bytes: number }> {
  const esbuild = require('esbuild') as typeof import('esbuild');
  const file = path.join(outDir, 'dist', 'http', 'routes', 'index.js');
  const result = await esbuild.build({
    entryPoints: [path.join(repoRoot, 'src', 'lambda.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    sourcemap: false,
    external: ['swagger-ui-dist'],
    outfile: file,
    metafile: true,
    logLevel: 'error',
  });
  const bytes = Object.values(result.metafile.outputs).reduce((total, output) => total + output.bytes, 0);
  return { file, bytes };
}

export async function measureLambda(
  dynamoEndpoint: string,
  resultsDir: string,
  log: (message: string) => void,
  options: { coldStarts: number; warmInvokes: number },
): Promise<LambdaBenchResult> {
  // Next to the compiled bench (under node_modules/.cache), out of git's and ESLint's way.
  const outDir = path.join(compiledBench, 'lambda-bundle');
  mkdirSync(outDir, { recursive: true });
  const { file, bytes } = await bundle(outDir);
  const table = 'bench-lambda';
  await createTable(dynamoEndpoint, table);
  log(
    `lambda: bundle ${Math.round(bytes / 1024)} KB; ${options.coldStarts} cold starts, ${options.warmInvokes} warm invokes each`,
  );

  const samples: (ColdStart & { warmCpuUs: number; warmWallUs: number })[] = [];
  for (let i = 0; i < options.coldStarts; i++) {
    const { stdout } = await run(process.execPath, ['-e', CHILD], {
      cwd: outDir,
      maxBuffer: 256 * 1024 * 1024,
      env: {
        PATH: process.env.PATH ?? '',
        BUNDLE: file,
        WARM_INVOKES: String(options.warmInvokes),
        // As the stack deploys it, but for the endpoint: EMF on, info logs, no per-client limit.
        DYNAMODB_ENDPOINT: dynamoEndpoint,
        DYNAMODB_TABLE: table,
        METRICS_EMF: 'true',
        LOG_LEVEL: 'info',
        RATE_LIMIT_PER_MINUTE: '0',
        // Room for a slow first call on a loaded machine: a cold start is measured, not failed.
        DYNAMODB_TIMEOUT_MS: '10000',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
    });
    const line = stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
    if (!line) throw new Error(`lambda bench child printed no result:\n${stdout.slice(-2000)}`);
    samples.push(JSON.parse(line.slice('BENCH_RESULT '.length)) as (typeof samples)[number]);
  }

  const pick = (key: keyof ColdStart) => r1(median(samples.map((s) => s[key])));
  const medianStart: ColdStart = {
    bootstrapMs: pick('bootstrapMs'),
    loadMs: pick('loadMs'),
    firstInvokeMs: pick('firstInvokeMs'),
    totalMs: pick('totalMs'),
  };
  const warmCpuUsPerInvoke = Math.round(median(samples.map((s) => s.warmCpuUs)));
  const warmWallUsPerInvoke = Math.round(median(samples.map((s) => s.warmWallUs)));
  const rows = samples.map(
    (s, i) =>
      `| ${i + 1} | ${r1(s.bootstrapMs)} | ${r1(s.loadMs)} | ${r1(s.firstInvokeMs)} | ${r1(s.totalMs)} | ${Math.round(s.warmCpuUs)} | ${Math.round(s.warmWallUs)} |`,
  );
  const markdown = [
    '# Lambda entry point: cold start and warm CPU',
    '',
    `The bundle CDK deploys (${Math.round(bytes / 1024)} KB, esbuild, minified), each cold start a fresh Node ${process.version} process on this machine, against DynamoDB Local. ` +
      `Warm: ${options.warmInvokes} heartbeat invokes per process after 50 to warm up; CPU is user+system of the process (DynamoDB Local runs in its own).`,
    '',
    '| run | node bootstrap ms | module load ms | first invoke ms (incl. first DynamoDB call) | cold start total ms | warm CPU µs/invoke | warm wall µs/invoke |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    `| **median** | **${medianStart.bootstrapMs}** | **${medianStart.loadMs}** | **${medianStart.firstInvokeMs}** | **${medianStart.totalMs}** | **${warmCpuUsPerInvoke}** | **${warmWallUsPerInvoke}** |`,
    '',
  ].join('\n');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(path.join(resultsDir, 'lambda.md'), markdown);
  process.stdout.write(`\n${markdown}\n`);
  return {
    coldStarts: samples,
    median: medianStart,
    warmCpuUsPerInvoke,
    warmWallUsPerInvoke,
    bundleKb: Math.round(bytes / 1024),
    markdown,
  };
}
