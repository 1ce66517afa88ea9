// One root pino logger; each part gets a child ({ part: 'broker' }). Secrets are redacted by key name
// wherever they appear, and card values are masked before they reach a log call (maskCard).
// Two formats (docs/monitoring.md, "Logs"): JSON lines for journald and log shippers, readable lines for a
// person at a terminal. Both are written synchronously in this thread, after redaction.
import { createRequire } from 'node:module';
import pino, { type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';

export type { Logger };

/** `log.format`: auto is pretty when standard output is a terminal, else json. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

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

export interface LogOutput {
  /** Default json (tests and tools read the lines back). */
  format?: LogFormat;
  /** Is the output a terminal? Decides `auto`, and colours. Default: process.stdout.isTTY. */
  terminal?: boolean;
}

export function createLogger(
  level: string,
  destination?: pino.DestinationStream,
  output: LogOutput = {},
): Logger {
  const terminal = output.terminal ?? process.stdout.isTTY === true;
  const pretty = resolveLogFormat(output.format ?? 'json', terminal) === 'pretty';
  // Pretty lines are for a person watching: each is written before the call returns, so a crash
  // never swallows the last lines. JSON for journald stays buffered (fewer writes on an SD card).
  const target = destination ?? pino.destination({ fd: 1, sync: pretty });
  return pino(
    {
      level,
      base: { app: 'gatehouse' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pretty ? prettyStream(target, terminal) : target,
  );
}

export function resolveLogFormat(format: LogFormat, terminal: boolean): 'json' | 'pretty' {
  if (format === 'auto') return terminal ? 'pretty' : 'json';
  return format;
}

/**
 * pino's redacted JSON line → one readable line, e.g.
 * `14:02:11.123 INFO: broker: listening {"mqtt":{"tcp":1883}}`. pino-pretty's formatter is used as a plain
 * function (no worker thread, no transport): redaction has already happened when the line gets here.
 */
function prettyStream(target: pino.DestinationStream, colors: boolean): pino.DestinationStream {
  // Loaded only for pretty output: the CLI and a journald hub never pay for it.
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  const format = prettyFactory({
    colorize: colors,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,app,part',
    messageFormat: '{if part}{part}: {end}{msg}',
    singleLine: true,
    errorLikeObjectKeys: ['err', 'error'],
  });
  const flushable = target as pino.DestinationStream & { flush?: unknown };
  return {
    write(line: string) {
      const text = format(line);
      if (text) target.write(text);
    },
    // main.ts flushes before exiting.
    flush: (...args: unknown[]) => (flushable.flush as ((...a: unknown[]) => void) | undefined)?.(...args),
  } as pino.DestinationStream;
}

/** A logger that drops everything, for tests and CLI commands. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** `04A1B2C3D4` → `…D4`-style: enough to tell cards apart in a log, not enough to clone one. */
export function maskCard(hex: string): string {
  return hex.length <= 4 ? '…' : `…${hex.slice(-4)}`;
}
