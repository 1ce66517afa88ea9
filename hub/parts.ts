// Parts with a lifecycle (docs/architecture.md, "Start and stop order"). The composition lists its parts in
// start order; one loop starts them, stops them in reverse, names each part's logger once and collects
// their status. Adding a part is one entry in that list.
import type { Logger } from './logger.js';

export interface PartContext {
  /** Bound to `{ part: <name> }` by the composition: a part binds other keys (`door`, `reader`), never `part`. */
  readonly logger: Logger;
}

export interface Part {
  readonly name: string;
  /** How long stop() may take before the hub stops waiting and goes on with the next part. */
  readonly stopDeadlineMs?: number;
  start(ctx: PartContext): Promise<void> | void;
  /** Also called when start() failed half-way, to release what it had opened (a port, a file). */
  stop(): Promise<void> | void;
  /** The fields this part adds to the hub status (`GET /api/v1/status`); called in every state. */
  status(): Record<string, unknown>;
}

export type PartState = 'stopped' | 'starting' | 'running' | 'stopping' | 'failed';

export const DEFAULT_STOP_DEADLINE_MS = 2_000;
/** Even when the overall stop budget is spent, the parts left (doors, the store) each get this long. */
const LAST_CHANCE_MS = 250;

export interface HeldSpec<T> {
  /** Builds the part's object from the parts started before it. */
  build(ctx: PartContext): Promise<T> | T;
  start?(value: T, ctx: PartContext): Promise<void> | void;
  stop?(value: T): Promise<void> | void;
  /** Called with null while the part is not running. */
  status?(value: T | null): Record<string, unknown>;
  stopDeadlineMs?: number;
}

/** A part that builds one object when it starts and drops it when it stops (most parts). */
export class Held<T> implements Part {
  readonly name: string;
  readonly stopDeadlineMs: number | undefined;
  readonly #spec: HeldSpec<T>;
  #value: T | null = null;

  constructor(name: string, spec: HeldSpec<T>) {
    this.name = name;
    this.#spec = spec;
    this.stopDeadlineMs = spec.stopDeadlineMs;
  }

  /** The running object, or null before start and after stop. */
  get current(): T | null {
    return this.#value;
  }

  /** The running object; throws when the hub is not started. */
  get(): T {
    if (this.#value === null) throw new Error('hub is not started');
    return this.#value;
  }

  async start(ctx: PartContext): Promise<void> {
    const value = await this.#spec.build(ctx);
    this.#value = value; // set before start(): a failed start is stopped with what it opened
    await this.#spec.start?.(value, ctx);
  }

  async stop(): Promise<void> {
    const value = this.#value;
    if (value === null) return;
    try {
      await this.#spec.stop?.(value);
    } finally {
      this.#value = null;
    }
  }

  status(): Record<string, unknown> {
    return this.#spec.status?.(this.#value) ?? {};
  }
}

interface Service {
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}

/** A part around one object with its own start() and stop(). */
export function service<T extends Service>(
  name: string,
  build: (ctx: PartContext) => T | Promise<T>,
  more: Pick<HeldSpec<T>, 'status' | 'stopDeadlineMs'> = {},
): Held<T> {
  return new Held(name, { build, start: (value) => value.start(), stop: (value) => value.stop(), ...more });
}

/** Starts parts in order and stops them in reverse. */
export class Lifecycle {
  readonly #parts: readonly Part[];
  readonly #loggers = new Map<Part, Logger>();
  readonly #states = new Map<Part, PartState>();
  /** Started (or half-started) parts, in start order. */
  #started: Part[] = [];
  #starting: Promise<void> | null = null;
  #stopRequested = false;

  constructor(parts: readonly Part[], logger: Logger) {
    const names = new Set<string>();
    for (const part of parts) {
      if (names.has(part.name)) throw new Error(`two parts are named '${part.name}'`);
      names.add(part.name);
      this.#loggers.set(part, logger.child({ part: part.name }));
      this.#states.set(part, 'stopped');
    }
    this.#parts = parts;
  }

  /**
   * Starts every part in order. When one fails (or stop() is called meanwhile), it and the parts started
   * before it are stopped in reverse, and the error is thrown.
   */
  start(): Promise<void> {
    if (this.#starting) return this.#starting;
    this.#stopRequested = false;
    this.#starting = this.#startAll().finally(() => {
      this.#starting = null;
    });
    return this.#starting;
  }

  async #startAll(): Promise<void> {
    for (const part of this.#parts) {
      if (this.#states.get(part) === 'running') continue;
      const logger = this.#loggers.get(part)!;
      if (this.#stopRequested) {
        await this.#stopStarted(Number.POSITIVE_INFINITY);
        throw new Error('the hub was stopped while it was starting');
      }
      this.#states.set(part, 'starting');
      this.#started.push(part);
      try {
        await part.start({ logger });
        this.#states.set(part, 'running');
        logger.debug('started');
      } catch (err) {
        this.#states.set(part, 'failed');
        logger.error({ err }, 'could not start; stopping the parts already started');
        await this.#stopStarted(Number.POSITIVE_INFINITY).catch(() => undefined);
        throw err;
      }
    }
  }

  /**
   * Stops the started parts in reverse order, each within its deadline and all within `deadlineMs`
   * (the parts still to stop when that is spent get a last short chance each). A part that does not
   * stop in time is left behind with a warning; the first stop error is thrown once all are done.
   */
  async stop(options: { deadlineMs?: number } = {}): Promise<void> {
    const until = Date.now() + (options.deadlineMs ?? Number.POSITIVE_INFINITY);
    this.#stopRequested = true;
    await this.#starting?.catch(() => undefined);
    await this.#stopStarted(until);
  }

  async #stopStarted(until: number): Promise<void> {
    let firstError: unknown = null;
    for (const part of this.#started.splice(0).reverse()) {
      const logger = this.#loggers.get(part)!;
      const failed = this.#states.get(part) === 'failed';
      this.#states.set(part, 'stopping');
      const allowed = Math.min(
        part.stopDeadlineMs ?? DEFAULT_STOP_DEADLINE_MS,
        Math.max(LAST_CHANCE_MS, until - Date.now()),
      );
      const stopping = Promise.resolve().then(() => part.stop());
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), allowed);
      });
      try {
        if ((await Promise.race([stopping, late])) === 'late') {
          logger.warn({ deadlineMs: allowed }, 'did not stop in time; stopping the next part');
          stopping.catch((err: unknown) => logger.error({ err }, 'error while stopping'));
        } else {
          logger.debug('stopped');
        }
      } catch (err) {
        logger.error({ err }, 'error while stopping');
        firstError ??= err;
      } finally {
        clearTimeout(timer);
      }
      this.#states.set(part, failed ? 'failed' : 'stopped');
    }
    if (firstError !== null) throw firstError;
  }

  /** Each part's status fields, merged, plus `parts`: the lifecycle state of each. */
  status(): Record<string, unknown> {
    const merged: Record<string, unknown> = {};
    const states: Record<string, PartState> = {};
    for (const part of this.#parts) {
      states[part.name] = this.#states.get(part)!;
      try {
        Object.assign(merged, part.status());
      } catch {
        // a part that cannot report now (closing, say) leaves its fields out
      }
    }
    return { ...merged, parts: states };
  }
}
