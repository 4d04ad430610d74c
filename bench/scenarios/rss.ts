/* The rss part: the service's resident memory with many idle keep-alive connections open. */
import net from 'node:net';
import type { BenchContext } from '../lib/context';
import { processMemoryMb, sleep } from '../lib/processes';
import type { Service } from '../lib/service';
import type { RssRecord } from '../lib/types';

function openIdleConnection(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => reject(new Error('idle connection: no answer in 10 s')), 10_000);
    socket.once('error', reject);
    socket.once('connect', () =>
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n'),
    );
    socket.once('data', () => {
      clearTimeout(timer);
      resolve(socket);
    });
  });
}

export async function measureRss(
  { knobs, log }: Pick<BenchContext, 'knobs' | 'log'>,
  service: Service,
  when: string,
): Promise<RssRecord> {
  const before = processMemoryMb(service.pid);
  const sockets: net.Socket[] = [];
  try {
    for (let opened = 0; opened < knobs.idleConnections; opened += 100) {
      const batch = Math.min(100, knobs.idleConnections - opened);
      sockets.push(...(await Promise.all(Array.from({ length: batch }, () => openIdleConnection(service.port)))));
    }
    await sleep(2000);
    const during = processMemoryMb(service.pid);
    log(
      `rss ${when}: ${before.rssMb} MB, ${during.rssMb} MB with ${sockets.length} idle keep-alive connections; peak so far ${during.peakRssMb} MB`,
    );
    return {
      when,
      connections: sockets.length,
      rssBeforeMb: before.rssMb,
      rssWithConnectionsMb: during.rssMb,
      peakRssMb: during.peakRssMb,
    };
  } finally {
    for (const socket of sockets) socket.destroy();
    await sleep(500);
  }
}
