// sd_notify(3) without libsystemd: one datagram per message to $NOTIFY_SOCKET, sent with unix-dgram (an
// optional native dependency, loaded only when systemd asks for notifications). Under systemd with
// Type=notify the hub says READY=1 once every part runs, STOPPING=1 when it stops, WATCHDOG=1 while it
// is healthy (hub/systemd/watchdog.ts) and a STATUS= line that `systemctl status gatehouse` shows.
// Without NOTIFY_SOCKET (npm start, Docker) every call does nothing.
import type { UnixDgramSocket } from 'unix-dgram';
import type { Logger } from '../logger.js';

/** sockaddr_un.sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;
/** A STATUS= line is for a person reading `systemctl status`; longer text is cut. */
export const MAX_STATUS_CHARS = 200;

/** What systemd handed the process, read once from the environment. */
export interface NotifyEnvironment {
  /** The socket path, or null when the hub does not run under systemd with Type=notify. */
  socket: string | null;
  /** The watchdog period in ms (WATCHDOG_USEC), or null when no watchdog is configured for this process. */
  watchdogMs: number | null;
  /** Why the environment was not usable, for one warning. */
  problem: string | null;
}

/**
 * Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID as sd_notify and sd_watchdog_enabled do, and removes
 * them from `env` so child processes (Node-RED) do not inherit them: with NotifyAccess=main systemd ignores
 * a child's messages anyway, and a child must never feed the hub's watchdog.
 */
export function readNotifyEnvironment(env: NodeJS.ProcessEnv, pid = process.pid): NotifyEnvironment {
  const rawSocket = env.NOTIFY_SOCKET;
  const rawUsec = env.WATCHDOG_USEC;
  const rawPid = env.WATCHDOG_PID;
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;

  let socket: string | null = null;
  let problem: string | null = null;
  if (rawSocket !== undefined && rawSocket !== '') {
    if (rawSocket.startsWith('@')) {
      // unix-dgram copies the path with strncpy, so the leading NUL of an abstract address cannot be passed.
      problem = `NOTIFY_SOCKET is an abstract socket (${rawSocket.slice(0, 40)}), which this hub cannot address; systemd's own socket is a path`;
    } else if (!rawSocket.startsWith('/') || Buffer.byteLength(rawSocket) > MAX_SOCKET_PATH) {
      problem = 'NOTIFY_SOCKET is not an absolute socket path of at most 107 bytes';
    } else {
      socket = rawSocket;
    }
  }

  let watchdogMs: number | null = null;
  if (socket !== null && rawUsec !== undefined) {
    const usec = /^\d{1,15}$/.test(rawUsec) ? Number(rawUsec) : Number.NaN;
    const forUs = rawPid === undefined || rawPid === String(pid);
    // WATCHDOG_PID naming another process: the watchdog is not ours (sd_watchdog_enabled semantics).
    if (!forUs) watchdogMs = null;
    else if (Number.isSafeInteger(usec) && usec > 0) watchdogMs = Math.max(1, Math.floor(usec / 1000));
    else problem = `WATCHDOG_USEC="${rawUsec.slice(0, 20)}" is not a positive number of microseconds`;
  }
  return { socket, watchdogMs, problem };
}

/** One line of text safe to put after STATUS=: no newline (it would start another field), bounded. */
export function statusText(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > MAX_STATUS_CHARS ? `${flat.slice(0, MAX_STATUS_CHARS - 1)}…` : flat;
}

export class SystemdNotifier {
  readonly watchdogMs: number | null;
  readonly #path: string | null;
  readonly #logger: Logger;
  #socket: UnixDgramSocket | null = null;
  #failures = 0;

  private constructor(path: string | null, watchdogMs: number | null, logger: Logger) {
    this.#path = path;
    this.watchdogMs = watchdogMs;
    this.#logger = logger;
  }

  /** From the process environment (removing systemd's variables from it); inactive without NOTIFY_SOCKET. */
  static async fromEnvironment(
    logger: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ): Promise<SystemdNotifier> {
    const found = readNotifyEnvironment(env);
    if (found.problem) logger.warn(`${found.problem}; systemd will not hear from the hub`);
    if (found.socket === null) return new SystemdNotifier(null, null, logger);
    let dgram: typeof import('unix-dgram');
    try {
      dgram = await import('unix-dgram');
    } catch (err) {
      logger.warn(
        { err: (err as Error).message },
        'NOTIFY_SOCKET is set but the optional module unix-dgram is not installed (it needs python3, make and g++ at install time); systemd will not hear from the hub',
      );
      return new SystemdNotifier(null, null, logger);
    }
    const notifier = new SystemdNotifier(found.socket, found.watchdogMs, logger);
    try {
      const socket = dgram.createSocket('unix_dgram');
      socket.on('error', (err) => notifier.#failed(err));
      notifier.#socket = socket;
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'cannot create a socket for NOTIFY_SOCKET');
      return new SystemdNotifier(null, null, logger);
    }
    logger.debug({ watchdogMs: found.watchdogMs }, 'systemd notifications on');
    return notifier;
  }

  /** True when messages go somewhere (the hub runs under systemd with Type=notify). */
  get active(): boolean {
    return this.#socket !== null;
  }

  ready(status: string): void {
    this.#send(`READY=1\nSTATUS=${statusText(status)}`);
  }

  status(status: string): void {
    this.#send(`STATUS=${statusText(status)}`);
  }

  stopping(status = 'stopping'): void {
    this.#send(`STOPPING=1\nSTATUS=${statusText(status)}`);
  }

  watchdog(): void {
    this.#send('WATCHDOG=1');
  }

  close(): void {
    const socket = this.#socket;
    this.#socket = null;
    try {
      socket?.close();
    } catch {
      // already closed
    }
  }

  #send(message: string): void {
    const socket = this.#socket;
    if (!socket || this.#path === null) return;
    const buf = Buffer.from(message, 'utf8');
    try {
      socket.send(buf, 0, buf.length, this.#path, (err) => {
        if (err) this.#failed(err);
        else this.#failures = 0;
      });
    } catch (err) {
      this.#failed(err as Error);
    }
  }

  /** A lost message is logged once per run of failures, not once per ping. */
  #failed(err: Error): void {
    if (this.#failures++ === 0) {
      this.#logger.warn({ err: err.message }, 'could not send a notification to systemd');
    }
  }
}
