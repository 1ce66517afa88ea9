// The command layer: every change to the hub is one named command with an input schema, the roles
// that may call it, and one implementation. HTTP routes, CLI subcommands, MQTT bridge requests and
// the cloud mirror all call `Commands.execute`, so the same policy and the same audit `actor` apply
// whoever asks (docs/architecture.md, "Where each kind of change goes").
import type { Static, TSchema } from 'typebox';
import { Compile } from 'typebox/compile';
import type { DoorStatus } from '../bus.js';
import type { DoorMode } from '../domain.js';
import type { Logger } from '../logger.js';
import type { ClockStatus } from '../offline/clock.js';
import type { OfflineCodes } from '../offline/offline-codes.js';
import type { IntegrationGrant } from '../store/devices.js';
import { StoreError } from '../store/errors.js';
import type { Store } from '../store/store.js';
import { printable } from '../text.js';

/**
 * Who may call a command. Staff roles come from a login; `integration` is an MQTT integration account
 * (Node-RED, Home Assistant) calling through bridge requests; `cloud` is the cloud mirror. The CLI on
 * the hub owns the data directory and calls as `admin`.
 */
export type Role = 'admin' | 'staff' | 'installer' | 'integration' | 'cloud';

export const ALL_ROLES: readonly Role[] = ['admin', 'staff', 'installer', 'integration', 'cloud'];

/** Who is asking. `actor` is recorded as `data.actor` in every audit event the command writes. */
export interface Caller {
  /** `user:<name>`, `cli:<os user>`, `device:<id>`, `cloud`, `node-red`. */
  actor: string;
  role: Role;
  /**
   * When set, the caller acts for these doors only: an integration account given doors
   * (`gatehouse device add … --integration --door …`). Commands naming another door are refused.
   */
  doors?: readonly string[];
  /** An integration account's grants (hub/store/devices.ts INTEGRATION_GRANTS); other roles ignore them. */
  grants?: readonly IntegrationGrant[];
}

/** What the door manager answers: done, or why not (the controller's own lockdown check, an unknown door). */
export type LiveDoorResult = { ok: true } | { ok: false; code: string; error: string };

/** The running door controllers. */
export interface LiveDoors {
  /** Pulses the lock for `ms`; refused by the controller in lockdown. */
  unlock(doorId: string, ms: number): LiveDoorResult;
  /** Applies a mode at once (the store already holds it; a reload would apply it within a second). */
  setMode(doorId: string, mode: DoorMode): LiveDoorResult;
  /** Is fire release active at this door? null when the hub does not run this door. */
  fireRelease(doorId: string): boolean | null;
  /** Live state of every running door (contact, lock, online…). */
  status(): DoorStatus[];
  /** A wired door's lines and readers as configured in `hardware.doors`; null for other doors. */
  wiring?(doorId: string): Readonly<Record<string, unknown>> | null;
}

/**
 * Offline doorcodes (hub/offline/offline-codes.ts): the part of OfflineCodes the code commands call,
 * and the building's time zone (a daily code without a date is for today there).
 */
export type OfflineCodesPort = Pick<
  OfflineCodes,
  'issue' | 'revoke' | 'list' | 'revocations' | 'guessRisk'
> & {
  readonly timeZone: string;
};

/** An OfflineCodes (the hub's, or one the CLI opened) as the code commands see it. */
export function offlineCodesPort(codes: OfflineCodes, timeZone: string): OfflineCodesPort {
  return {
    timeZone,
    issue: (request) => codes.issue(request),
    revoke: (serial, options) => codes.revoke(serial, options),
    list: (options) => codes.list(options),
    revocations: () => codes.revocations(),
    guessRisk: (doorId, now) => codes.guessRisk(doorId, now),
  };
}

/** Keypads whose codes the daily failure cap disabled (hub/offline/cap.ts). */
/** The trusted clock (hub/offline/clock.ts, docs/trusted-time.md). */
export interface LiveClock {
  /** The documented recovery after a refused clock jump; writes admin.clock.accepted with `actor`. */
  acceptSystemTime(actor: string): void;
  status(): ClockStatus;
}

/**
 * The next card presented at a door, caught for enrolment (hub/doors/capture.ts): its UID as canonical
 * hex (what credential.add_card accepts, never logged), or why not: nothing within the time, the caller
 * went away, or too many captures wait already.
 */
export type CaptureResult =
  | { ok: true; card: string; readerId: string }
  | { ok: false; why: 'timeout' | 'cancelled' | 'busy' };

/** Waits for cards at doors; the presentation is still decided as always. */
export interface LiveCardCapture {
  next(doorId: string, timeoutMs: number, signal?: AbortSignal): Promise<CaptureResult>;
}

/** Parts of the running hub a command may need (absent when the CLI runs a command on the store alone). */
export interface LiveHub {
  doors: LiveDoors;
  codes: OfflineCodesPort;
  clock: LiveClock;
  cards: LiveCardCapture;
}

export interface CommandContext {
  /** The store whose audit events record the caller as actor (`store.as(caller.actor)`). */
  store: Store;
  caller: Caller;
  /** Present only inside the hub process; `runs: 'hub'` commands get it always. */
  hub: LiveHub | null;
  /** Offline doorcodes: the hub's, or the CLI's own (it opens the code secret itself); null when neither. */
  codes: OfflineCodesPort | null;
  /** The building's IANA time zone (schedules); null when this process was not told it. */
  timeZone: string | null;
  logger: Logger;
  /** Aborted when the caller went away (the HTTP client disconnected): long waits give up early. */
  signal?: AbortSignal;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface CommandDef<S extends TSchema = TSchema, R = unknown> {
  /** `noun.verb`, e.g. `credential.revoke`: the bridge request name and the CLI's vocabulary. */
  name: string;
  /** One line, for --help, OpenAPI and docs/mqtt.md. */
  summary: string;
  /** Validated before anything runs; path parameters of `http.path` are fields of this object. */
  input: S;
  roles: readonly Role[];
  /** 'store': runs wherever the store is open (the CLI too); 'hub': needs the running hub's parts. */
  runs: 'store' | 'hub';
  /** Reads change nothing and write no audit event. */
  readOnly?: boolean;
  /**
   * An integration caller needs this grant on its account as well as the `integration` role (least
   * privilege: Home Assistant may unlock a door, only the Node-RED account may issue a doorcode).
   */
  grant?: IntegrationGrant;
  /** The input field that names the door it acts on: a caller limited to some doors may use only those. */
  door?: string;
  /** The REST route, e.g. `{ method: 'POST', path: '/credentials/:id/revoke' }` under /api/v1. */
  http: { method: HttpMethod; path: string; status?: number };
  run(ctx: CommandContext, input: Static<S>): R | Promise<R>;
}

const ROUTE_PARAM = /:([A-Za-z_][A-Za-z0-9_]*)/g;

/** `:id` style parameters of a command's route path, in order (each is a field of its input). */
export function routeParams(path: string): string[] {
  return [...path.matchAll(ROUTE_PARAM)].map((m) => m[1]!);
}

/** `/doors/:id/unlock` + `{id: 'front', ms: 5000}` → `/doors/front/unlock` and the rest `{ms: 5000}`. */
export function fillRoute(
  path: string,
  input: Record<string, unknown>,
): { url: string; rest: Record<string, unknown> } {
  const rest = { ...input };
  const url = path.replace(ROUTE_PARAM, (_m, name: string) => {
    const value = rest[name];
    delete rest[name];
    return encodeURIComponent(String(value ?? ''));
  });
  return { url, rest };
}

/** Identity function that keeps the input type for `run` (and for callers of `execute`). */
export function defineCommand<S extends TSchema, R>(def: CommandDef<S, R>): CommandDef<S, R> {
  return def;
}

export type CommandErrorCode =
  | 'invalid' // the input is wrong (HTTP 400)
  | 'unauthenticated' // no or an expired login (401)
  | 'forbidden' // the caller's role may not do this (403)
  | 'not_found' // the command or its subject does not exist (404)
  | 'conflict' // the state forbids it: exists already, in use (409)
  | 'refused' // the hub's policy says no: lockdown, fire release, deny-wins (409)
  | 'unavailable'; // the disk is full, the hub is not running (503)

export const COMMAND_ERROR_STATUS: Record<CommandErrorCode, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  refused: 409,
  unavailable: 503,
};

/** The code of an HTTP status the hub answered (409 reads as 'conflict', the first code with it). */
export function codeOfStatus(status: number): CommandErrorCode | undefined {
  return (Object.keys(COMMAND_ERROR_STATUS) as CommandErrorCode[]).find(
    (code) => COMMAND_ERROR_STATUS[code] === status,
  );
}

export class CommandError extends Error {
  readonly code: CommandErrorCode;

  constructor(code: CommandErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CommandError';
    this.code = code;
  }

  get statusCode(): number {
    return COMMAND_ERROR_STATUS[this.code];
  }
}

/** Store refusals keep their message; their codes map onto the command codes. */
export function toCommandError(err: unknown): CommandError | null {
  if (err instanceof CommandError) return err;
  if (err instanceof StoreError) {
    const code: CommandErrorCode =
      err.code === 'in_use'
        ? 'conflict'
        : err.code === 'unsupported'
          ? 'invalid'
          : (err.code as CommandErrorCode);
    return new CommandError(code, err.message, { cause: err });
  }
  return null;
}

interface SchemaError {
  keyword: string;
  schemaPath: string;
  instancePath: string;
  params: Record<string, unknown>;
  message: string;
}

/** The sub-schema at a JSON pointer such as `#/properties/id` (for its `description`). */
function schemaAt(root: TSchema, pointer: string): Record<string, unknown> | null {
  let node: unknown = root;
  for (const part of pointer.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    if (node === null || typeof node !== 'object') return null;
    node = (node as Record<string, unknown>)[part.replaceAll('~1', '/').replaceAll('~0', '~')];
  }
  return node !== null && typeof node === 'object' ? (node as Record<string, unknown>) : null;
}

/**
 * One sentence naming the first problem by its field: "'ms' must be >= 1000", "'mode' must be one
 * of: normal, lockdown, unlocked", "unknown field 'x'", "'id' must be 1-64 characters: …".
 */
export function describeInvalid(schema: TSchema, errors: Iterable<unknown>): string {
  const list = [...(errors as Iterable<SchemaError>)];
  const first = list.find((e) => e.keyword !== 'anyOf' && e.keyword !== 'boolean') ?? list[0];
  if (!first) return 'invalid input';
  const field = first.instancePath ? first.instancePath.slice(1).replaceAll('/', '.') : '';
  const named = field ? `'${field}' ` : '';
  switch (first.keyword) {
    case 'additionalProperties': {
      const extra = (first.params.additionalProperties as string[] | undefined) ?? [];
      const where = field ? ` in '${field}'` : '';
      return `unknown field${extra.length === 1 ? '' : 's'} ${extra.map((f) => `'${f.slice(0, 64)}'`).join(', ')}${where}`;
    }
    case 'required': {
      const missing = (first.params.requiredProperties as string[] | undefined) ?? [];
      const prefix = field ? `${field}.` : '';
      return `${missing.map((f) => `'${prefix}${f}'`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} required`;
    }
    case 'enum':
      return `${named}must be one of: ${((first.params.allowedValues as unknown[]) ?? []).join(', ')}`;
    case 'pattern': {
      const rule = schemaAt(schema, first.schemaPath)?.description;
      return `${named}${typeof rule === 'string' ? `must be ${rule}` : first.message}`;
    }
    case 'type':
      if (!field) return 'input must be a JSON object';
      return `${named}${first.message}`;
    default:
      return `${named}${first.message}`;
  }
}

export interface CommandsOptions {
  store: Store;
  hub?: LiveHub | null;
  /** Without a hub (the CLI): offline codes over the same store, so `code issue` works with the hub stopped. */
  codes?: OfflineCodesPort | null;
  /** The building's time zone; default: the offline codes' (the hub always has them). */
  timeZone?: string | null;
  logger: Logger;
}

/** The table of commands and the one way to run them. */
export class Commands {
  readonly #defs = new Map<string, CommandDef>();
  readonly #checks = new Map<string, ReturnType<typeof Compile>>();
  readonly #store: Store;
  readonly #hub: LiveHub | null;
  readonly #codes: OfflineCodesPort | null;
  readonly #timeZone: string | null;
  readonly #logger: Logger;

  constructor(defs: readonly CommandDef[], options: CommandsOptions) {
    for (const def of defs) {
      if (this.#defs.has(def.name)) throw new Error(`command '${def.name}' is defined twice`);
      this.#defs.set(def.name, def);
    }
    this.#store = options.store;
    this.#hub = options.hub ?? null;
    this.#codes = options.hub?.codes ?? options.codes ?? null;
    this.#timeZone = options.timeZone ?? this.#codes?.timeZone ?? null;
    this.#logger = options.logger;
  }

  list(): CommandDef[] {
    return [...this.#defs.values()];
  }

  get(name: string): CommandDef | undefined {
    return this.#defs.get(name);
  }

  /** Can `caller` call `name` at all (before looking at the input)? */
  allowed(name: string, role: Role): boolean {
    return this.#defs.get(name)?.roles.includes(role) ?? false;
  }

  /**
   * Checks the role, validates the input, runs the command with a store that records the caller as
   * actor. Throws CommandError for every refusal; anything else is a bug and is rethrown as is.
   */
  async execute(
    name: string,
    input: unknown,
    caller: Caller,
    options: { signal?: AbortSignal } = {},
  ): Promise<unknown> {
    const def = this.#defs.get(name);
    if (!def) throw new CommandError('not_found', `unknown command '${name.slice(0, 64)}'`);
    if (!def.roles.includes(caller.role)) {
      throw new CommandError('forbidden', `the ${caller.role} role may not run '${name}'`);
    }
    if (caller.role === 'integration' && def.grant && !caller.grants?.includes(def.grant)) {
      throw new CommandError(
        'forbidden',
        `${caller.actor} may not run '${name}': its account lacks the '${def.grant}' grant`,
      );
    }
    let check = this.#checks.get(name);
    if (!check) {
      check = Compile(def.input);
      this.#checks.set(name, check);
    }
    const value = input ?? {};
    if (!check.Check(value))
      throw new CommandError('invalid', describeInvalid(def.input, check.Errors(value)));
    if (caller.doors && def.door !== undefined) {
      const doorId = (value as Record<string, unknown>)[def.door];
      if (typeof doorId !== 'string' || !caller.doors.includes(doorId)) {
        throw new CommandError(
          'forbidden',
          `${caller.actor} may not act on door '${printable(String(doorId))}'`,
        );
      }
    }
    if (def.runs === 'hub' && !this.#hub) {
      throw new CommandError('unavailable', `'${name}' needs the running hub: start it first`);
    }
    const ctx: CommandContext = {
      store: def.readOnly ? this.#store : this.#store.as(caller.actor),
      caller,
      hub: this.#hub,
      codes: this.#codes,
      timeZone: this.#timeZone,
      logger: this.#logger,
      ...(options.signal ? { signal: options.signal } : {}),
    };
    try {
      return await def.run(ctx, value as never);
    } catch (err) {
      const refusal = toCommandError(err);
      if (refusal) throw refusal;
      throw err;
    }
  }
}
