// A fake NOTIFY_SOCKET: the unix datagram socket systemd would bind, recording every message the hub sends.
import path from 'node:path';
import unixDgram from 'unix-dgram';

export interface NotifyMessage {
  at: number;
  /** The fields of one datagram, e.g. { READY: '1', STATUS: 'deciding' }. */
  fields: Record<string, string>;
}

export interface FakeNotifySocket {
  path: string;
  messages: NotifyMessage[];
  /** How many datagrams carried WATCHDOG=1. */
  pings(): number;
  statuses(): string[];
  close(): void;
}

export function fakeNotifySocket(dir: string): FakeNotifySocket {
  const socketPath = path.join(dir, 'notify.sock');
  const messages: NotifyMessage[] = [];
  const server = unixDgram.createSocket('unix_dgram');
  server.on('error', (err) => {
    throw err;
  });
  server.on('message', (buf) => {
    const fields: Record<string, string> = {};
    for (const line of buf.toString('utf8').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
    }
    messages.push({ at: Date.now(), fields });
  });
  server.bind(socketPath);
  return {
    path: socketPath,
    messages,
    pings: () => messages.filter((m) => m.fields.WATCHDOG === '1').length,
    statuses: () => messages.flatMap((m) => (m.fields.STATUS === undefined ? [] : [m.fields.STATUS])),
    close: () => server.close(),
  };
}
