// MQTT round trips for the benchmark: QoS 1 publish → matching reply, paced (open loop at a fixed rate)
// or closed loop (the next request when the reply is in), against a bare echo or against the hub.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';

const REPLY_GRACE_MS = 2000;

export function connect(port: number, username?: string, password?: string): Promise<MqttClient> {
  return mqtt
    .connectAsync(`mqtt://127.0.0.1:${port}`, {
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...(username ? { username, password } : {}),
      clientId: `bench-${Math.random().toString(16).slice(2, 10)}`,
    })
    .then((client) => {
      // TCP_NODELAY on the client side too (see docs/benchmarks.md).
      (client.stream as unknown as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
      return client;
    });
}

/** The first JSON line on a child's stdout that matches, e.g. a broker's `{"port": …}`. */
export function waitForLine(
  child: ChildProcess,
  match: (entry: Record<string, unknown>) => boolean,
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`child did not become ready in ${timeoutMs} ms`)),
      timeoutMs,
    );
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (match(entry)) {
          clearTimeout(timer);
          resolve(entry);
        }
      } catch {
        // not a JSON line
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited with ${code}`));
    });
  });
}

/** One requester: `send(id)` publishes a request, `onReply` is called with the id of each reply. */
export interface Requester {
  send(id: string): void;
  onReply(handler: (id: string) => void): void;
  off(): void;
}

export interface RoundTrips {
  samples: number[];
  lost: number;
  seconds: number;
}

/** Open loop: `count` requests at `rate`/s; a reply not in within 2 s of the last request is lost. */
export async function paced(requester: Requester, rate: number, count: number): Promise<RoundTrips> {
  const sentAt = new Map<string, number>();
  const samples: number[] = [];
  requester.onReply((id) => {
    const t0 = sentAt.get(id);
    if (t0 === undefined) return;
    samples.push(performance.now() - t0);
    sentAt.delete(id);
  });
  const interval = 1000 / rate;
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + i * interval - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const id = `p${i}-${Math.random().toString(36).slice(2, 8)}`;
    sentAt.set(id, performance.now());
    requester.send(id);
  }
  const seconds = (performance.now() - start) / 1000;
  const graceEnd = performance.now() + REPLY_GRACE_MS;
  while (sentAt.size > 0 && performance.now() < graceEnd) await new Promise((r) => setTimeout(r, 10));
  requester.off();
  return { samples, lost: sentAt.size, seconds };
}

/** Closed loop: one request at a time for `seconds`; the throughput is samples / seconds. */
export async function closedLoop(requester: Requester, seconds: number): Promise<RoundTrips> {
  const samples: number[] = [];
  let lost = 0;
  let waiting: { id: string; at: number; done: () => void } | null = null;
  requester.onReply((id) => {
    if (waiting?.id !== id) return;
    samples.push(performance.now() - waiting.at);
    waiting.done();
  });
  const start = performance.now();
  const end = start + seconds * 1000;
  for (let i = 0; performance.now() < end; i++) {
    const id = `c${i}-${Math.random().toString(36).slice(2, 8)}`;
    const answered = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), REPLY_GRACE_MS);
      waiting = {
        id,
        at: performance.now(),
        done: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      requester.send(id);
    });
    waiting = null;
    if (!answered) lost++;
  }
  requester.off();
  return { samples, lost, seconds: (performance.now() - start) / 1000 };
}

/** A bare echo on any broker: one client answers every `bench/req` on `bench/resp`, both at QoS 1. */
export async function echoPair(port: number): Promise<{ requester: Requester; close(): Promise<void> }> {
  const echo = await connect(port);
  const client = await connect(port);
  await echo.subscribeAsync('bench/req', { qos: 1 });
  echo.on('message', (_t, payload) => echo.publish('bench/resp', payload, { qos: 1 }));
  await client.subscribeAsync('bench/resp', { qos: 1 });
  // The same size as a credential presentation.
  const pad = 'x'.repeat(60);
  let handler: ((topic: string, payload: Buffer) => void) | null = null;
  return {
    requester: {
      send: (id) => client.publish('bench/req', JSON.stringify({ id, pad }), { qos: 1 }),
      onReply: (onReply) => {
        handler = (_t, p) => onReply((JSON.parse(p.toString()) as { id: string }).id);
        client.on('message', handler);
      },
      off: () => {
        if (handler) client.off('message', handler);
        handler = null;
      },
    },
    close: async () => {
      await echo.endAsync();
      await client.endAsync();
    },
  };
}

/**
 * A door device on the hub: presents cards on `gatehouse/door/<door>/credential` and hears the decision.
 * `pickCard` chooses each presentation's card (known and unknown ones, as a building has).
 */
export async function doorDevice(
  port: number,
  device: { username: string; secret: string; door: string },
  pickCard: () => string,
): Promise<{ requester: Requester; granted(): number; close(): Promise<void> }> {
  const reader = await connect(port, device.username, device.secret);
  await reader.subscribeAsync(`gatehouse/door/${device.door}/decision`, { qos: 1 });
  let granted = 0;
  let handler: ((topic: string, payload: Buffer) => void) | null = null;
  return {
    requester: {
      send: (id) =>
        reader.publish(
          `gatehouse/door/${device.door}/credential`,
          JSON.stringify({ id, kind: 'card', value: pickCard() }),
          { qos: 1 },
        ),
      onReply: (onReply) => {
        handler = (_t, p) => {
          const decision = JSON.parse(p.toString()) as { id: string; granted: boolean };
          if (decision.granted) granted++;
          onReply(decision.id);
        };
        reader.on('message', handler);
      },
      off: () => {
        if (handler) reader.off('message', handler);
        handler = null;
      },
    },
    granted: () => granted,
    close: () => reader.endAsync(),
  };
}

export const median = (values: number[]): number =>
  values.length === 0 ? Number.NaN : [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)]!;
