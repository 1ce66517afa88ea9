// A server-sent-events client for the stream tests: parses messages as EventSource does (id, event, data)
// and lets a test wait for what it expects. Plain node:http, so headers (Last-Event-ID) are in the test's hands.
import { type ClientRequest, request } from 'node:http';

export interface SseMessage {
  id?: number;
  event: string;
  data: Record<string, unknown>;
}

export interface SseClient {
  status: number;
  messages: SseMessage[];
  /** The `data` of every `event` message (stored events) received so far. */
  events: () => Array<Record<string, unknown> & { seq: number; type: string }>;
  /** The last `id:` received, as EventSource would send it back in Last-Event-ID. */
  lastId: () => number | undefined;
  waitFor: (check: (messages: SseMessage[]) => boolean, timeoutMs?: number) => Promise<void>;
  ended: Promise<void>;
  close: () => void;
}

export function openSse(
  port: number,
  token: string,
  options: { lastEventId?: number | string; query?: string } = {},
): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const messages: SseMessage[] = [];
    let lastId: number | undefined;
    const waiters = new Set<() => void>();
    const notify = () => {
      for (const w of [...waiters]) w();
    };
    const req: ClientRequest = request(
      {
        host: '127.0.0.1',
        port,
        path: `/api/v1/stream${options.query ?? ''}`,
        headers: {
          authorization: `Bearer ${token}`,
          ...(options.lastEventId !== undefined ? { 'last-event-id': String(options.lastEventId) } : {}),
        },
        agent: false,
      },
      (res) => {
        let buffer = '';
        let endedResolve: () => void = () => undefined;
        const ended = new Promise<void>((r) => {
          endedResolve = r;
        });
        res.on('close', () => {
          endedResolve();
          notify();
        });
        const client: SseClient = {
          status: res.statusCode ?? 0,
          messages,
          events: () =>
            messages
              .filter((m) => m.event === 'event')
              .map((m) => m.data as Record<string, unknown> & { seq: number; type: string }),
          lastId: () => lastId,
          waitFor: (check, timeoutMs = 10_000) =>
            new Promise<void>((done, fail) => {
              if (check(messages)) return done();
              const timer = setTimeout(() => {
                waiters.delete(waiter);
                fail(new Error(`timed out; got ${messages.length} messages`));
              }, timeoutMs);
              const waiter = () => {
                if (!check(messages)) return;
                clearTimeout(timer);
                waiters.delete(waiter);
                done();
              };
              waiters.add(waiter);
            }),
          ended,
          close: () => req.destroy(),
        };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          for (;;) {
            const end = buffer.indexOf('\n\n');
            if (end < 0) break;
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const message: Partial<SseMessage> & { lines: string[] } = { lines: [] };
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const field = line.slice(0, colon);
              const value = line.slice(colon + 1).replace(/^ /, '');
              if (field === 'id') message.id = Number(value);
              else if (field === 'event') message.event = value;
              else if (field === 'data') message.lines.push(value);
            }
            if (message.lines.length === 0) continue;
            if (message.id !== undefined) lastId = message.id;
            messages.push({
              ...(message.id !== undefined ? { id: message.id } : {}),
              event: message.event ?? 'message',
              data: JSON.parse(message.lines.join('\n')) as Record<string, unknown>,
            });
          }
          notify();
          if (messages.some((m) => m.event === 'hello')) resolve(client);
        });
        if (res.statusCode !== 200) {
          res.resume();
          resolve(client);
        }
      },
    );
    req.on('error', reject);
    req.end();
  });
}
