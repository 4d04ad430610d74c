import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../lib/service-stack';

// The image the stack deploys is built from this Dockerfile by `cdk deploy`; these are the
// properties that make it safe to build and run, checked without a container engine
// (scripts/container-test.sh builds and runs it where podman is available).
describe('Dockerfile', () => {
  const dockerfile = fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
  const usage = dockerfile
    .split('\n')
    .filter((line) => line.startsWith('#'))
    .join('\n');

  it('pins the default base image by digest, so a rebuild cannot silently change it', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:22-bookworm-slim@sha256:[0-9a-f]{64}$/m);
    // Every stage builds on that argument, never on a bare tag.
    const froms = dockerfile.match(/^FROM .*$/gm) ?? [];
    expect(froms.length).toBeGreaterThan(0);
    for (const from of froms) expect(from).toMatch(/^FROM \$\{NODE_IMAGE\}( AS \w+)?$/);
  });

  it('says how to bump the digest', () => {
    expect(usage).toMatch(/imagetools inspect node:22-bookworm-slim/);
  });

  it('shows a docker run with authentication on, a region, a table and the secret kept off the command line', () => {
    const run = usage.slice(usage.indexOf('docker run'));
    expect(run).toMatch(/-e AUTH_MODE=jwt/);
    expect(run).toMatch(/-e AUTH_JWT_SECRET(\s|$)/);
    expect(run).not.toMatch(/AUTH_JWT_SECRET=/);
    expect(run).toMatch(/-e AWS_REGION=/);
    expect(run).toMatch(/-e DYNAMODB_TABLE=/);
    expect(run).toMatch(/--read-only/);
    expect(run).toMatch(/-p 127\.0\.0\.1:3000:3000/);
    expect(run).not.toMatch(/AUTH_MODE=none/);
  });
});
