// One root pino logger; each part gets a child ({ part: 'broker' }). Secrets are redacted by key name
// wherever they appear, and card values are masked before they reach a log call (maskCard).
import pino, { type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'password',
  'secret',
  'token',
  'pin',
  'value',
  'authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.pin',
  '*.value',
  'req.headers.authorization',
  'req.headers.cookie',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { app: 'gatehouse' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** A logger that drops everything, for tests and CLI commands. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** `04A1B2C3D4` → `…D4`-style: enough to tell cards apart in a log, not enough to clone one. */
export function maskCard(hex: string): string {
  return hex.length <= 4 ? '…' : `…${hex.slice(-4)}`;
}
