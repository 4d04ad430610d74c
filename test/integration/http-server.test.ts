import type { RequestListener, Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { createHttpServer, SERVER_LIMITS } from '../../src/http/server';

const ALB_IDLE_TIMEOUT_MS = 60_000;

const hello: RequestListener = (_req, res) => void res.end('ok');

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** Opens a raw connection; resolves with what the server sent before closing it (or 'timeout'). */
function connect(port: number): { socket: net.Socket; ended: Promise<string> } {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
  const ended = new Promise<string>((resolve) => {
    socket.on('close', () => resolve(received));
    socket.on('error', () => undefined);
  });
  return { socket, ended };
}

function get(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    const onData = (chunk: Buffer) => {
      received += chunk.toString();
      if (received.includes('\r\n\r\nok')) {
        socket.off('data', onData);
        resolve(received);
      }
    };
    socket.on('data', onData);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  });
}

describe('HTTP server limits', () => {
  it('keeps the timeouts consistent: headers <= request, both well under a minute; keep-alive above the ALB idle timeout', () => {
    const server = createHttpServer(hello);
    expect(server.headersTimeout).toBe(SERVER_LIMITS.headersTimeoutMs);
    expect(server.requestTimeout).toBe(SERVER_LIMITS.requestTimeoutMs);
    expect(server.headersTimeout).toBeLessThanOrEqual(server.requestTimeout);
    expect(server.requestTimeout).toBeLessThanOrEqual(20_000);
    expect(server.keepAliveTimeout).toBeGreaterThan(ALB_IDLE_TIMEOUT_MS);
    expect(server.maxConnections).toBe(10_000);
  });

  it('refuses limits where the headers may take longer than the whole request', () => {
    expect(() => createHttpServer(hello, { headersTimeoutMs: 2_000, requestTimeoutMs: 1_000 })).toThrow(RangeError);
  });

  it('cuts off a client that sends its headers too slowly (slowloris)', async () => {
    const server = createHttpServer(hello, {
      headersTimeoutMs: 300,
      requestTimeoutMs: 400,
      timeoutCheckIntervalMs: 50,
    });
    const port = await listen(server);
    try {
      const { socket, ended } = connect(port);
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
      const started = Date.now();
      const timer = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 50);
      const answer = await ended;
      clearInterval(timer);
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await close(server);
    }
  });

  it('refuses connections beyond the bound cleanly, reports them, and accepts again once one closes', async () => {
    const refusals: number[] = [];
    const server = createHttpServer(hello, { maxConnections: 2 }, (refused) => refusals.push(refused));
    const port = await listen(server);
    try {
      const first = connect(port);
      const second = connect(port);
      expect(await get(first.socket)).toMatch(/^HTTP\/1\.1 200/);
      expect(await get(second.socket)).toMatch(/^HTTP\/1\.1 200/);

      const third = connect(port);
      third.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await third.ended).toBe('');
      expect(refusals).toEqual([1]);
      // Still serving the connections it holds.
      expect(await get(first.socket)).toMatch(/^HTTP\/1\.1 200/);

      first.socket.destroy();
      await first.ended;
      await new Promise((resolve) => setTimeout(resolve, 50));
      const fourth = connect(port);
      expect(await get(fourth.socket)).toMatch(/^HTTP\/1\.1 200/);
      for (const { socket } of [second, fourth]) socket.destroy();
    } finally {
      await close(server);
    }
  });
});
