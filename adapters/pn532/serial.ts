// The serial port under a PN532 (HSU). serialport is imported only when a PN532 reader is used.
import type { ByteTransport } from './client.js';

export interface SerialLink extends ByteTransport {
  /** Called once when the port goes away (unplugged, closed). */
  onClose(listener: (err?: Error) => void): () => void;
  close(): Promise<void>;
}

export type SerialOpener = (path: string, baudRate: number) => Promise<SerialLink>;

export class SerialOpenError extends Error {
  override readonly name = 'SerialOpenError';
  readonly fix: string;
  constructor(message: string, fix: string) {
    super(`${message}\n  fix: ${fix}`);
    this.fix = fix;
  }
}

function explainOpenError(path: string, err: unknown): SerialOpenError {
  const msg = err instanceof Error ? err.message : String(err);
  if (/ENOENT|No such file|cannot open/i.test(msg)) {
    return new SerialOpenError(
      `serial device ${path} not found (${msg})`,
      'check the cable/USB adapter; for the header UART run `sudo raspi-config` → Interface Options → Serial Port: ' +
        'login shell "No", hardware "Yes", then reboot; `ls -l /dev/serial0` must exist',
    );
  }
  if (/EACCES|Permission denied/i.test(msg)) {
    return new SerialOpenError(
      `no permission to open ${path}`,
      'add the service user to the dialout group: `sudo usermod -aG dialout gatehouse`, then restart the service',
    );
  }
  if (/EBUSY|Resource busy|lock/i.test(msg)) {
    return new SerialOpenError(
      `${path} is in use by another program`,
      'stop the other program (serial console getty, ModemManager, a second hub): `sudo lsof ' + path + '`',
    );
  }
  return new SerialOpenError(
    `cannot open ${path}: ${msg}`,
    'run `npx gatehouse hw read-card <door>` to check',
  );
}

/** Opens a real serial port with serialport 13. */
export const openSerialPort: SerialOpener = async (path, baudRate) => {
  const { SerialPort } = await import('serialport');
  const port = new SerialPort({ path, baudRate, autoOpen: false, hupcl: false });
  await new Promise<void>((resolve, reject) => {
    port.open((err) => (err ? reject(explainOpenError(path, err)) : resolve()));
  });
  const closeListeners = new Set<(err?: Error) => void>();
  let closed = false;
  const onGone = (err?: Error) => {
    if (closed) return;
    closed = true;
    for (const l of [...closeListeners]) l(err);
  };
  port.on('close', (err: Error | null) => onGone(err ?? undefined));
  port.on('error', (err: Error) => {
    onGone(err);
    if (port.isOpen) port.close(() => undefined);
  });
  return {
    write: (data) =>
      new Promise<void>((resolve, reject) => {
        if (closed) {
          reject(new Error('port closed'));
          return;
        }
        // Resolves once the bytes have left for the wire (tcdrain), so callers time the answer from there.
        port.write(data, (err) => {
          if (err) reject(err);
          else port.drain((drainErr) => (drainErr ? reject(drainErr) : resolve()));
        });
      }),
    onData: (listener) => {
      port.on('data', listener);
      return () => port.off('data', listener);
    },
    onClose: (listener) => {
      closeListeners.add(listener);
      return () => closeListeners.delete(listener);
    },
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      }),
  };
};
