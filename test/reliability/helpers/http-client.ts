import http from 'node:http';

/** One HTTP answer, with how long it took; `json` is undefined when the body is not JSON. */
export interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  readonly json: unknown;
  readonly ms: number;
}

export interface RawRequest {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** Sent as is; a string is sent as UTF-8 (lone surrogates become U+FFFD, use a Buffer for exact bytes). */
  readonly body?: Buffer | string;
}

/**
 * A small keep-alive HTTP/1.1 client over node:http. Unlike fetch it sends
 * exactly what it is given: any method, a body on GET, no content type added,
 * raw bytes. `timeoutMs` bounds the whole exchange so a hung server fails the
 * test instead of stalling it.
 */
export class HttpClient {
  private readonly agent: http.Agent;

  constructor(
    readonly baseUrl: string,
    options: { maxSockets?: number; keepAlive?: boolean } = {},
  ) {
    this.agent = new http.Agent({ keepAlive: options.keepAlive ?? true, maxSockets: options.maxSockets ?? 16 });
  }

  request(raw: RawRequest, timeoutMs = 15_000): Promise<Answer> {
    const url = new URL(this.baseUrl);
    const started = performance.now();
    const body =
      raw.body === undefined ? undefined : Buffer.isBuffer(raw.body) ? raw.body : Buffer.from(raw.body, 'utf8');
    return new Promise<Answer>((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          method: raw.method,
          path: raw.path,
          agent: this.agent,
          headers: {
            ...(body !== undefined && { 'content-length': String(body.length) }),
            ...raw.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            clearTimeout(timer);
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = text === '' ? undefined : JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, ms: performance.now() - started });
          });
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new Error(`no answer to ${raw.method} ${raw.path} within ${timeoutMs} ms`));
      }, timeoutMs);
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      req.end(body);
    });
  }

  /** POST with a JSON body and the right content type. */
  post(path: string, body: unknown, timeoutMs?: number, headers: Record<string, string> = {}): Promise<Answer> {
    return this.request(
      { method: 'POST', path, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) },
      timeoutMs,
    );
  }

  get(path: string, timeoutMs?: number, headers: Record<string, string> = {}): Promise<Answer> {
    return this.request({ method: 'GET', path, headers }, timeoutMs);
  }

  close(): void {
    this.agent.destroy();
  }
}

/** A problem+json answer's `code`, or undefined. */
export function problemCode(answer: Answer): string | undefined {
  const body = answer.json as { code?: unknown } | undefined;
  return typeof body?.code === 'string' ? body.code : undefined;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `work` over `items` with at most `concurrency` in flight, keeping order in the results. */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  });
  await Promise.all(lanes);
  return results;
}
