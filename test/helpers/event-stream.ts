import http from 'node:http';

/** One player's `GET /streams/events`, as the tests read it. */
export interface EventStream {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Everything received so far. */
  text(): string;
  /** Resolves with everything received once the service ends the response. */
  readonly ended: Promise<string>;
  close(): void;
}

/** Opens the event stream for `query` (userId, streamId) and resolves once the answer's head arrived. */
export function openEvents(
  url: string,
  query: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/streams/events?${new URLSearchParams(query).toString()}`, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      const ended = new Promise<string>((done) => {
        res.on('end', () => done(body));
        res.on('close', () => done(body));
      });
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: () => body,
        ended,
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

/** The events received, in order: each block's `event:` name and its `data:` JSON. */
export function parseEvents(text: string): { event: string; data: Record<string, unknown> }[] {
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('event:'))
    .map((block) => {
      const [eventLine, dataLine] = block.split('\n');
      return {
        event: eventLine!.slice('event: '.length),
        data: JSON.parse(dataLine!.slice('data: '.length)) as Record<string, unknown>,
      };
    });
}
