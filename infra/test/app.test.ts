import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../lib/service-stack';
import { cdkJsonContext, WITH_CERTIFICATE } from './support/synth';

// Runs bin/app.ts the way `cdk synth` does (context and output directory through the
// environment), so the entry point, the real Dockerfile and the nag gate are covered too.
describe('bin/app.ts', () => {
  const saved = { context: process.env.CDK_CONTEXT_JSON, outdir: process.env.CDK_OUTDIR };
  let outdir: string;

  beforeAll(() => {
    outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'stream-limiter-cdk-out-'));
    process.env.CDK_CONTEXT_JSON = JSON.stringify({
      ...cdkJsonContext(),
      region: 'eu-west-1',
      certificateArn: WITH_CERTIFICATE.certificateArn.replace(':us-east-1:', ':eu-west-1:'),
    });
    process.env.CDK_OUTDIR = outdir;
    // Synthesizes on import; with the AwsSolutions plugin registered, any finding throws here.
    jest.isolateModules(() => {
      require('../bin/app');
    });
  });

  afterAll(() => {
    for (const [key, value] of [
      ['CDK_CONTEXT_JSON', saved.context],
      ['CDK_OUTDIR', saved.outdir],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    fs.rmSync(outdir, { recursive: true, force: true });
  });

  it('synthesizes both stacks for the region in context, with a clean validation report', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'manifest.json'), 'utf8')) as {
      artifacts: Record<string, { type: string; environment?: string }>;
    };
    for (const stack of ['StreamLimiter', 'StreamLimiterServerless']) {
      expect(manifest.artifacts[stack]).toMatchObject({
        type: 'aws:cloudformation:stack',
        environment: 'aws://unknown-account/eu-west-1',
      });
    }
    const report = JSON.parse(fs.readFileSync(path.join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { summary?: { status?: string }; violations?: unknown[] }[];
    };
    for (const plugin of report.pluginReports) expect(plugin.violations ?? []).toEqual([]);
  });

  it('builds the image from the repository Dockerfile with only what the build needs in the context', () => {
    const assets = JSON.parse(fs.readFileSync(path.join(outdir, 'StreamLimiter.assets.json'), 'utf8')) as {
      dockerImages: Record<string, { source: { directory: string; platform?: string } }>;
    };
    const images = Object.values(assets.dockerImages);
    expect(images).toHaveLength(1);
    const context = path.join(outdir, (images[0] as (typeof images)[number]).source.directory);
    expect((images[0] as (typeof images)[number]).source.platform).toBe('linux/amd64');
    expect(fs.readFileSync(path.join(context, 'Dockerfile'), 'utf8')).toBe(
      fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8'),
    );
    const staged = fs.readdirSync(context);
    for (const excluded of ['node_modules', 'dist', 'infra', '.git', 'coverage']) {
      expect(staged).not.toContain(excluded);
    }
    expect(staged).toEqual(expect.arrayContaining(['package.json', 'src']));
  });

  it("bundles the change fan-out's publisher with the local esbuild (no Docker), publishing to the terminations channel", () => {
    const assets = JSON.parse(fs.readFileSync(path.join(outdir, 'StreamLimiter.assets.json'), 'utf8')) as {
      files: Record<string, { source: { path: string; packaging?: string } }>;
    };
    const bundles = Object.values(assets.files)
      .filter((file) => file.source.packaging === 'zip')
      .map((file) => path.join(outdir, file.source.path, 'index.js'))
      .filter((file) => fs.existsSync(file));
    expect(bundles.some((file) => fs.readFileSync(file, 'utf8').includes('/terminations/all'))).toBe(true);
  });
});

describe('the Lambda bundle bin/app.ts builds (local esbuild, no Docker)', () => {
  it('answers through its dev stage, with the docs, demo and SDK files it reads at run time', () => {
    const saved = { context: process.env.CDK_CONTEXT_JSON, outdir: process.env.CDK_OUTDIR };
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'stream-limiter-cdk-out-'));
    try {
      process.env.CDK_CONTEXT_JSON = JSON.stringify({ ...cdkJsonContext(), region: 'us-east-1', stacks: 'serverless' });
      process.env.CDK_OUTDIR = outdir;
      jest.isolateModules(() => {
        require('../bin/app');
      });
      const manifest = JSON.parse(fs.readFileSync(path.join(outdir, 'manifest.json'), 'utf8')) as {
        artifacts: Record<string, unknown>;
      };
      expect(Object.keys(manifest.artifacts)).not.toContain('StreamLimiter');
      const bundle = fs
        .readdirSync(outdir)
        .map((dir) => path.join(outdir, dir))
        .find((dir) => fs.existsSync(path.join(dir, 'dist/http/routes/index.js')));
      expect(bundle).toBeDefined();
      // A fresh process, as Lambda starts one: the bundle alone, no node_modules but what it ships.
      const script = `
        const { handler } = require(${JSON.stringify(path.join(bundle as string, 'dist/http/routes/index.js'))});
        const event = (rawPath) => ({ version: '2.0', routeKey: '$default', rawPath, rawQueryString: '', headers: { host: 'x' },
          requestContext: { stage: 'dev', http: { method: 'GET', path: rawPath, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7' } },
          isBase64Encoded: false });
        (async () => {
          const out = {};
          for (const p of ['/dev/healthz', '/dev/docs', '/dev/docs/swagger-ui.css', '/dev/demo', '/dev/demo/demo.js', '/dev/demo/video.min.js', '/dev/openapi.json']) {
            const r = await handler(event(p), {});
            out[p] = { status: r.statusCode, type: r.headers['content-type'], length: (r.body || '').length };
          }
          process.stdout.write(JSON.stringify(out));
        })();`;
      const output = execFileSync(process.execPath, ['-e', script], {
        cwd: os.tmpdir(),
        env: { PATH: process.env.PATH, DYNAMODB_ENDPOINT: 'http://127.0.0.1:9', LOG_LEVEL: 'silent' },
        encoding: 'utf8',
      });
      const answers = JSON.parse(output) as Record<string, { status: number; type: string; length: number }>;
      for (const [route, answer] of Object.entries(answers)) {
        expect([route, answer.status]).toEqual([route, 200]);
        expect(answer.length).toBeGreaterThan(10);
      }
      expect(answers['/dev/docs/swagger-ui.css']?.type).toMatch(/text\/css/);
      expect(answers['/dev/demo/demo.js']?.type).toMatch(/javascript/);
      expect(answers['/dev/demo/video.min.js']?.type).toMatch(/javascript/);
    } finally {
      for (const [key, value] of [
        ['CDK_CONTEXT_JSON', saved.context],
        ['CDK_OUTDIR', saved.outdir],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  });
});

describe('bin/app.ts without a listener choice', () => {
  it('exits 1 with one line naming both certificateArn and allowHttp, before synthesizing anything', () => {
    const saved = process.env.CDK_CONTEXT_JSON;
    process.env.CDK_CONTEXT_JSON = JSON.stringify({ ...cdkJsonContext(), region: 'eu-west-1' });
    const exit = jest.spyOn(process, 'exit').mockImplementation((code) => {
      throw new Error(`process.exit(${String(code)})`);
    });
    const error = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(() =>
        jest.isolateModules(() => {
          require('../bin/app');
        }),
      ).toThrow('process.exit(1)');
      expect(error).toHaveBeenCalledTimes(1);
      expect(String(error.mock.calls[0]?.[0])).toMatch(/-c certificateArn=.* or -c allowHttp=true/);
    } finally {
      exit.mockRestore();
      error.mockRestore();
      if (saved === undefined) delete process.env.CDK_CONTEXT_JSON;
      else process.env.CDK_CONTEXT_JSON = saved;
    }
  });
});
