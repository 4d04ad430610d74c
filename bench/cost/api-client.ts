import http from 'node:http';

export interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export interface ApiClient {
  post(path: string, body: object): Promise<Answer>;
  get(path: string): Promise<Answer>;
  close(): void;
}

/**
 * JSON over keep-alive node:http: players share a pool as large as their number (a small pool would
 * queue heartbeats behind each other and make them late), and
 * each request costs this process far less CPU than fetch would (the box is shared and small).
 * Network errors resolve as status 0 so that a player can treat them like a 503.
 */
export function createApiClient(baseUrl: string, options: { maxSockets?: number; timeoutMs?: number } = {}): ApiClient {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 256 });
  const timeoutMs = options.timeoutMs ?? 10_000;
  const send = (method: string, path: string, payload?: string): Promise<Answer> =>
    new Promise((resolve) => {
      const request = http.request(
        {
          host: url.hostname,
          port: url.port,
          method,
          path,
          agent,
          timeout: timeoutMs,
          headers:
            payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            let body: Record<string, unknown> = {};
            try {
              body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
            } catch {
              // A non-JSON answer keeps its status; the player only needs that.
            }
            resolve({ status: response.statusCode ?? 0, body });
          });
          response.on('error', () => resolve({ status: 0, body: {} }));
        },
      );
      request.on('timeout', () => request.destroy(new Error('timeout')));
      request.on('error', () => resolve({ status: 0, body: {} }));
      request.end(payload);
    });
  return {
    post: (path, body) => send('POST', path, JSON.stringify(body)),
    get: (path) => send('GET', path),
    close: () => agent.destroy(),
  };
}
