// One live stream per tab (GET /api/v1/stream, server-sent events). EventSource reconnects by itself and
// sends Last-Event-ID, so the hub replays what was missed; `reset` means too much was missed: views reload.
import { useEffect, useState } from 'preact/hooks';
import type { DoorStatus, HubEvent } from './types.js';

type Handlers = {
  event: (e: HubEvent) => void;
  door: (s: DoorStatus) => void;
  reset: () => void;
};

const handlers: { [K in keyof Handlers]: Set<Handlers[K]> } = {
  event: new Set(),
  door: new Set(),
  reset: new Set(),
};
let source: EventSource | null = null;
let connected = false;
const connectionListeners = new Set<(up: boolean) => void>();

function setConnected(up: boolean): void {
  if (connected === up) return;
  connected = up;
  for (const listener of connectionListeners) listener(up);
}

function parse<T>(message: MessageEvent): T | null {
  try {
    return JSON.parse(message.data as string) as T;
  } catch {
    return null;
  }
}

export function startLive(): void {
  if (source) return;
  source = new EventSource('/api/v1/stream');
  source.addEventListener('open', () => setConnected(true));
  source.addEventListener('error', () => setConnected(false));
  source.addEventListener('hello', () => setConnected(true));
  source.addEventListener('event', (m) => {
    const e = parse<HubEvent>(m as MessageEvent);
    if (e) for (const h of handlers.event) h(e);
  });
  source.addEventListener('door', (m) => {
    const s = parse<DoorStatus>(m as MessageEvent);
    if (s) for (const h of handlers.door) h(s);
  });
  source.addEventListener('reset', () => {
    for (const h of handlers.reset) h();
  });
}

export function stopLive(): void {
  source?.close();
  source = null;
  setConnected(false);
}

/** Calls `handler` for every live message of `type` while the component is mounted. */
export function useLive<K extends keyof Handlers>(type: K, handler: Handlers[K]): void {
  useEffect(() => {
    const set = handlers[type] as Set<Handlers[K]>;
    set.add(handler);
    return () => void set.delete(handler);
  }, [type, handler]);
}

/** True while the live stream is connected (the header shows "live" or "reconnecting…"). */
export function useLiveConnected(): boolean {
  const [up, setUp] = useState(connected);
  useEffect(() => {
    connectionListeners.add(setUp);
    return () => void connectionListeners.delete(setUp);
  }, []);
  return up;
}
