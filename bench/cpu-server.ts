/*
 * A server for the CPU-per-request measurement, in a process of its own so
 * that the load generator's CPU is not counted. argv[2]:
 * - bare: a plain node:http JSON handler (read body, JSON.parse, answer JSON
 *   shaped like a heartbeat's 200), the reference;
 * - express: Express 5 with one route and express.json(), nothing else: the framework's own cost;
 * - service: createApp() exactly as main.ts builds it, request logging on
 *   (LOG_LEVEL=info, pino writing JSON lines to this process's stdout, which
 *   the bench points at a file), over the real LeaseStore whose DynamoDB
 *   caller (LeaseStoreOptions.dynamo, in place of DynamoWire) is stubbed in
 *   process: every UpdateItem answers a plausible ALL_NEW item holding the
 *   live lease, in DynamoDB JSON, so marshalling both ways is counted;
 * - service-silent: the same with LOG_LEVEL=silent, to show what logging costs;
 * - forwarder: not a stub, a reference for the scenarios: see forwarderHandler.
 * IPC: { cmd: 'cpu-start' } and { cmd: 'cpu-stop' } bracket a measurement;
 * the stop answer carries process.cpuUsage() and the requests served between.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as AppModule from '../src/app';
import type * as ConfigModule from '../src/config';
import type * as LoggerModule from '../src/logger';
import type * as PolicyModule from '../src/leases/policy';
import type * as ReadinessModule from '../src/readiness';
import type * as StoreModule from '../src/store/lease-store';
import type { DynamoCaller } from '../src/store/dynamo-wire';
import type * as WireModule from '../src/store/dynamo-wire';
import type * as RawModule from './lib/dynamo-raw';
import type * as ExpressModule from 'express';

type Mode = 'bare' | 'express' | 'service' | 'service-silent' | 'forwarder';

/** A heartbeat's 200 body, as the reference servers answer it. */
function heartbeatAnswer(body: { userId: string; streamId: string }, activeStreams = 1): Record<string, unknown> {
  return {
    userId: body.userId,
    streamId: body.streamId,
    activeStreams,
    limit: 3,
    expiresAt: new Date(Date.now() + 90_000).toISOString(),
    heartbeatIntervalSeconds: 30,
  };
}

function bareHandler(): http.RequestListener {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { userId: string; streamId: string };
      const payload = JSON.stringify(heartbeatAnswer(body));
      res.writeHead(200, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(payload),
      });
      res.end(payload);
    });
  };
}

/** Express 5 at its plainest: one POST route, express.json(), res.json() of the same answer. What the framework alone costs. */
function expressHandler(): http.RequestListener {
  const express = require('express') as typeof ExpressModule.default;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.post('/streams/heartbeat', express.json(), (req, res) => {
    res.json(heartbeatAnswer(req.body as { userId: string; streamId: string }));
  });
  return app;
}

/**
 * The least a service in the request path can do: read the heartbeat, send the service's own renewal
 * UpdateItem (DynamoWire, to FORWARD_DYNAMODB_ENDPOINT, table FORWARD_TABLE), answer the heartbeat's JSON.
 * No Express, validation, logging or rules: what is left is the price of being a process with two HTTP hops.
 */
function forwarderHandler(): http.RequestListener {
  const { DynamoWire } = require('../src/store/dynamo-wire') as typeof WireModule;
  const { heartbeatUpdate } = require('./lib/dynamo-raw') as typeof RawModule;
  const table = process.env.FORWARD_TABLE ?? 'bench-leases';
  const wire = new DynamoWire({
    endpoint: new URL(process.env.FORWARD_DYNAMODB_ENDPOINT ?? 'http://127.0.0.1:8000'),
    region: 'us-east-1',
    credentials: async () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
  });
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { userId: string; streamId: string };
      const now = Date.now();
      wire.call('UpdateItem', heartbeatUpdate(table, body.userId, body.streamId, now), now + 1000).then(
        (answer) => {
          const item = (answer.Attributes ?? {}) as Record<string, { N?: string }>;
          const payload = JSON.stringify(heartbeatAnswer(body, Number(item.cnt?.N ?? 1)));
          res.writeHead(200, {
            'content-type': 'application/json; charset=utf-8',
            'content-length': Buffer.byteLength(payload),
          });
          res.end(payload);
        },
        () => res.writeHead(503).end(),
      );
    });
  };
}

/** The service's modules are loaded only in service modes, so the bare server's RSS is a bare server's. */
async function serviceHandler(
  logLevel: 'info' | 'silent',
): Promise<{ handler: http.RequestListener; stubCallUs: number }> {
  const { createLogger } = require('../src/logger') as typeof LoggerModule;
  const { createApp } = require('../src/app') as typeof AppModule;
  const { loadConfig } = require('../src/config') as typeof ConfigModule;
  const { leasePolicy } = require('../src/leases/policy') as typeof PolicyModule;
  const { createReadiness } = require('../src/readiness') as typeof ReadinessModule;
  const { LeaseStore } = require('../src/store/lease-store') as typeof StoreModule;
  const config = loadConfig({
    DYNAMODB_ENDPOINT: 'http://127.0.0.1:9',
    DYNAMODB_TABLE: 'cpu-stub',
    LOG_LEVEL: logLevel,
    RATE_LIMIT_PER_MINUTE: '0',
  });
  // What DynamoDB answers an applied heartbeat: the whole item (ALL_NEW) with the renewed lease.
  const dynamo: DynamoCaller = {
    async call(_operation, body) {
      const request = body as { Key: { userId: { S: string } }; ExpressionAttributeNames: Record<string, string> };
      const lease = Object.values(request.ExpressionAttributeNames).find((name) => name.startsWith('L:')) ?? 'L:s1';
      const now = Date.now();
      return {
        Attributes: {
          userId: request.Key.userId,
          ver: { N: '7' },
          cnt: { N: '1' },
          tcnt: { N: '0' },
          gcAt: { N: String(Math.ceil((now + 90_000) / 1000) + 3600) },
          [lease]: { M: { s: { N: String(now - 60_000) }, e: { N: String(now + 90_000) } } },
        },
      };
    },
    destroy() {},
  };
  const store = new LeaseStore({
    endpoint: { kind: 'url', url: 'http://127.0.0.1:9' },
    region: config.region,
    table: config.table,
    timeoutMs: config.timeoutMs,
    policy: leasePolicy(config),
    dynamo,
  });
  // As main.ts builds it: JSON lines to stdout.
  const logger = createLogger(config.logLevel);
  const { app } = createApp({ config, store, logger, readiness: createReadiness(() => store.ping()) });

  // What one stubbed call costs by itself: counted in this server's figure, absent from the real service's.
  const body = { Key: { userId: { S: 'u-1' } }, ExpressionAttributeNames: { '#n0': 'L:s1', '#n1': 'e' } };
  for (let call = 0; call < 2000; call++) await dynamo.call('UpdateItem', body, 0);
  const calls = 20_000;
  const before = process.cpuUsage();
  for (let call = 0; call < calls; call++) await dynamo.call('UpdateItem', body, 0);
  const spent = process.cpuUsage(before);
  return { handler: app, stubCallUs: (spent.user + spent.system) / calls };
}

async function main(): Promise<void> {
  const mode = process.argv[2] as Mode;
  const { handler, stubCallUs } =
    mode === 'bare'
      ? { handler: bareHandler(), stubCallUs: 0 }
      : mode === 'express'
        ? { handler: expressHandler(), stubCallUs: 0 }
        : mode === 'forwarder'
          ? { handler: forwarderHandler(), stubCallUs: 0 }
          : await serviceHandler(mode === 'service' ? 'info' : 'silent');
  const server = http.createServer(handler);
  server.keepAliveTimeout = 65_000;
  let served = 0;
  server.on('request', (_req, res: http.ServerResponse) => res.once('finish', () => served++));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  let startCpu = process.cpuUsage();
  let startServed = 0;
  let startWall = performance.now();
  process.on('message', (message: { id: number; cmd: string }) => {
    if (message.cmd === 'cpu-start') {
      startCpu = process.cpuUsage();
      startServed = served;
      startWall = performance.now();
      process.send?.({ id: message.id });
    } else if (message.cmd === 'cpu-stop') {
      const cpu = process.cpuUsage(startCpu);
      process.send?.({
        id: message.id,
        userUs: cpu.user,
        systemUs: cpu.system,
        served: served - startServed,
        wallMs: performance.now() - startWall,
        rssMb: process.memoryUsage().rss / 2 ** 20,
      });
    }
  });
  process.once('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
  process.send?.({ ready: true, port: (server.address() as AddressInfo).port, stubCallUs });
}

main().catch((error: unknown) => {
  process.stderr.write(`cpu-server: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
