// Ways to connect a Pn532Emulator to a reader: an in-memory serial link (sim driver, fast tests), or a real
// pseudo-terminal pair made by socat so the real serialport path is exercised end to end.
import { type ChildProcess, spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { SerialLink, SerialOpener } from '../pn532/serial.js';
import type { Pn532Emulator } from './pn532.js';

/** A serial "cable" to an emulator that can be unplugged and plugged back in. */
export class EmulatedSerialCable {
  readonly emulator: Pn532Emulator;
  #plugged = true;
  #current: { close: (err?: Error) => void } | null = null;

  constructor(emulator: Pn532Emulator) {
    this.emulator = emulator;
  }

  get plugged(): boolean {
    return this.#plugged;
  }

  /** The port disappears, as when a USB adapter is pulled: open links close, new opens fail. */
  unplug(): void {
    this.#plugged = false;
    this.#current?.close(new Error('device disconnected'));
    this.#current = null;
  }

  replug(): void {
    this.#plugged = true;
  }

  readonly open: SerialOpener = async (path) => {
    if (!this.#plugged) {
      throw Object.assign(new Error(`Error: No such file or directory, cannot open ${path}`), {
        code: 'ENOENT',
      });
    }
    this.#current?.close();
    const dataListeners = new Set<(chunk: Buffer) => void>();
    const closeListeners = new Set<(err?: Error) => void>();
    let open = true;
    const offOutput = this.emulator.onOutput((bytes) => {
      // Serial delivery is asynchronous; never call back into the host synchronously.
      const copy = Buffer.from(bytes);
      setImmediate(() => {
        if (open) for (const l of [...dataListeners]) l(copy);
      });
    });
    const close = (err?: Error) => {
      if (!open) return;
      open = false;
      offOutput();
      for (const l of [...closeListeners]) l(err);
    };
    const link: SerialLink = {
      write: async (data) => {
        if (!open) throw new Error('port closed');
        const copy = Buffer.from(data);
        setImmediate(() => {
          if (open) this.emulator.feed(copy);
        });
      },
      onData: (l) => {
        dataListeners.add(l);
        return () => dataListeners.delete(l);
      },
      onClose: (l) => {
        closeListeners.add(l);
        return () => closeListeners.delete(l);
      },
      close: async () => {
        if (!open) return;
        open = false;
        offOutput();
      },
    };
    this.#current = { close };
    return link;
  };
}

/** Two linked pseudo-terminals from socat: the reader opens `hostPath`, the emulator sits on `devicePath`. */
export class SocatPtyPair {
  readonly hostPath: string;
  readonly devicePath: string;
  #proc: ChildProcess | null = null;

  constructor(dir: string, name = 'pn532') {
    this.hostPath = join(dir, `${name}-host`);
    this.devicePath = join(dir, `${name}-device`);
  }

  async start(timeoutMs = 5000): Promise<void> {
    const proc = spawn(
      'socat',
      [`pty,raw,echo=0,link=${this.hostPath}`, `pty,raw,echo=0,link=${this.devicePath}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.#proc = proc;
    const exited = new Promise<never>((_, reject) => {
      proc.once('error', (err) =>
        reject(new Error(`cannot run socat (apt-get install socat): ${err.message}`)),
      );
      proc.once('exit', (code) => reject(new Error(`socat exited with code ${code}`)));
    });
    exited.catch(() => undefined);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ready = await Promise.race([
        Promise.all([access(this.hostPath), access(this.devicePath)]).then(
          () => true,
          () => false,
        ),
        exited,
      ]);
      if (ready) return;
      if (Date.now() > deadline) throw new Error('socat did not create the pty pair in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Kills socat: both ptys vanish, as when the reader's USB adapter is pulled. */
  async stop(): Promise<void> {
    const proc = this.#proc;
    this.#proc = null;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  }
}

/** Connects an emulator to the device side of a pty (or any serial path) through serialport. */
export async function attachEmulator(
  emulator: Pn532Emulator,
  path: string,
  open: SerialOpener,
): Promise<{ detach: () => Promise<void> }> {
  const link = await open(path, 115200);
  const offData = link.onData((chunk) => emulator.feed(chunk));
  const offOut = emulator.onOutput((bytes) => {
    link.write(Buffer.from(bytes)).catch(() => undefined);
  });
  return {
    detach: async () => {
      offData();
      offOut();
      await link.close();
    },
  };
}
