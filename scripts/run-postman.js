#!/usr/bin/env node
// npm run test:postman — runs postman/stream-limiter.postman_collection.json
// with newman against a real service: builds dist/ if stale, starts
// `node dist/main.js` on a free port with the embedded DynamoDB Local, waits
// for /readyz, runs the collection, stops the service with SIGTERM, and exits
// non-zero if any assertion failed. The service is stopped on every path out.
'use strict';
const { spawn } = require('node:child_process');
const path = require('node:path');
const { clearTimeout, setTimeout } = require('node:timers');
const { ensureBuild, entry } = require('./ensure-build');

const root = path.resolve(__dirname, '..');
const COLLECTION = path.join(root, 'postman', 'stream-limiter.postman_collection.json');
const ENVIRONMENT = path.join(root, 'postman', 'local.postman_environment.json');
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

/** The settings the collection's assertions assume, whatever the caller's shell exports. */
function serviceEnv() {
  const env = { ...process.env };
  for (const name of [
    'BASE_PATH',
    'AUTH_JWT_SECRET',
    'AUTH_JWKS_URL',
    'AUTH_JWT_ISSUER',
    'AUTH_JWT_AUDIENCE',
    'CORS_ORIGINS',
    'HEARTBEAT_INTERVAL_SECONDS',
  ]) {
    delete env[name];
  }
  return {
    ...env,
    PORT: '0',
    HOST: '127.0.0.1',
    DYNAMODB_ENDPOINT: 'embedded',
    DYNAMODB_TABLE: 'stream-leases',
    STREAM_LIMIT: '3',
    LEASE_SECONDS: '90',
    AUTH_MODE: 'none',
    RATE_LIMIT_PER_MINUTE: '600',
    LOG_LEVEL: 'info',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
}

/** Starts the service; resolves once it logs the port it listens on. */
function startService() {
  const child = spawn(process.execPath, [entry], { cwd: root, env: serviceEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const port = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the service did not listen within ${START_TIMEOUT_MS} ms:\n${output}`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk) => {
      output += chunk.toString();
      const match = /"port":(\d+)[^\n]*listening on port/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk) => (output += chunk.toString()));
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the service exited (${code}) before listening:\n${output}`));
    });
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return { child, port, exited, stop, output: () => output };
}

async function waitUntilReady(baseUrl) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await globalThis.fetch(`${baseUrl}/readyz`);
      if (res.status === 200) return;
      last = `${res.status} ${await res.text()}`;
    } catch (error) {
      last = error.message;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`/readyz did not answer 200 within ${START_TIMEOUT_MS} ms (last: ${last})`);
}

function runCollection(baseUrl) {
  const newman = require('newman');
  return new Promise((resolve, reject) => {
    newman.run(
      {
        collection: require(COLLECTION),
        environment: require(ENVIRONMENT),
        envVar: [{ key: 'baseUrl', value: baseUrl }],
        reporters: ['cli'],
        reporter: { cli: { noSummary: false } },
        timeoutRequest: 15_000,
      },
      (error, summary) => (error ? reject(error) : resolve(summary)),
    );
  });
}

async function main() {
  ensureBuild();
  const service = startService();
  // Ctrl-C or a CI cancel must not leave the service (and its DynamoDB Local) behind.
  const onSignal = (signal) => {
    void service.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let failures = 1;
  try {
    const port = await service.port;
    const baseUrl = `http://127.0.0.1:${port}`;
    await waitUntilReady(baseUrl);
    process.stdout.write(`service ready at ${baseUrl}\n`);
    const summary = await runCollection(baseUrl);
    const { requests, assertions } = summary.run.stats;
    failures = summary.run.failures.length + (summary.run.error ? 1 : 0);
    process.stdout.write(
      `\n${requests.total} requests, ${assertions.total} assertions, ${assertions.failed} failed assertions, ${failures} failures\n`,
    );
  } catch (error) {
    process.stderr.write(`${error.stack ?? error}\n`);
  } finally {
    const code = await service.stop();
    if (code !== 0) {
      process.stderr.write(
        `the service exited with ${code} on SIGTERM (expected 0):\n${service.output().slice(-4000)}\n`,
      );
      failures += 1;
    }
  }
  process.exit(failures === 0 ? 0 : 1);
}

main();
