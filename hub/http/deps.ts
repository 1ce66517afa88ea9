// What the HTTP apps share: their dependencies, the guards common to all listeners, the staff identity on
// a request and the route `roles` config. Routes import this, not app.ts, so app.ts can import the routes.
import type { FastifyInstance } from 'fastify';
import { KeyedBuckets, Summarizer } from '../budget.js';
import type { Decision, EventBus } from '../bus.js';
import type { Caller, Commands } from '../commands/command.js';
import type { StaffRole } from '../domain.js';
import type { Logger } from '../logger.js';
import type { HealthReport, MetricsEndpoint } from '../metrics/index.js';
import type { NodeRedTarget } from '../nodered/target.js';
import type { Store } from '../store/store.js';
import {
  DEFAULT_LOGIN_LIMITS,
  DEFAULT_STREAM_LIMITS,
  LoginLimiter,
  type LoginLimits,
  type StreamLimits,
  StreamRegistry,
} from './limits.js';
import type { SetupToken } from './setup-token.js';

export const SESSION_COOKIE = 'gatehouse_session';

export interface HttpDeps {
  store: Store;
  bus: EventBus;
  /** The command table: one generated route per command (hub/http/commands.ts). */
  commands: Commands;
  /** Snapshot for /health and the UI header: broker ports, doors, cloud link. */
  status: () => Record<string, unknown>;
  /** Simulated doors, for rehearsals and demos; null when none. */
  sim?: SimControl;
  sessionHours: number;
  /** The building's time zone: event-log times without an offset are read in it, CSV shows it. */
  timeZone?: string;
  /** Cookies get the Secure flag on the HTTPS listener. */
  secure: boolean;
  /**
   * The local control socket (data/hub.sock, mode 0600): whoever can open it already owns the data
   * directory, so its requests act as the built-in admin 'local'. Used by the CLI.
   */
  localAdmin?: boolean;
  /** State shared by all listeners of one hub (built by HttpServer; defaults for a lone app). */
  guards?: HttpGuards;
  /** Routes of other parts (mobile keys, door sync), registered under /api/v1 with the same auth. */
  routes?: Array<(api: FastifyInstance) => Promise<void>>;
  /**
   * The built web UI (index.html, assets/…), served on the HTTP and HTTPS listeners. Default:
   * `<package root>/ui/dist`. A folder that does not exist gives the "not built" page, not an error.
   */
  uiDir?: string;
  /** The hub's CA certificate (PEM, data/certs/ca.crt) offered at GET /ca.crt; absent: no download. */
  caCertPem?: string;
  /** The supervised Node-RED behind /flows/ (docs/installer-flows.md); null while it is not running. */
  nodeRed?: () => NodeRedTarget | null;
  /** GET /metrics behind its token (docs/monitoring.md); absent: no /metrics route. */
  metrics?: MetricsEndpoint;
  /** GET /api/v1/health; absent: a bare `ok` from the status. */
  health?: () => HealthReport;
  logger: Logger;
}

/** Budgets and first-run state that the HTTP, HTTPS and control-socket apps share. */
export interface HttpGuards {
  streams: StreamRegistry;
  login: LoginLimiter;
  /** The first-run setup token; null when none is active (setup over the network is then refused). */
  setupToken: SetupToken | null;
  /** Refused setups and slowed-down logins are logged a few times a minute per key, then summarised. */
  refusals: Summarizer;
  /** Command calls per caller (`user:<name>`, `cli:<user>`): over it, 429 with retry-after. */
  commandCalls: KeyedBuckets;
}

/**
 * Commands one signed-in caller may run per second, and in a burst: far above what a person clicks or a
 * script importing a building needs, and a bound on the audit events one stolen session can write.
 */
export const COMMANDS_PER_SECOND_PER_CALLER = 20;
export const COMMAND_BURST_PER_CALLER = 100;
/** Callers tracked at once (staff users and CLI users: a handful); the oldest are forgotten beyond it. */
const MAX_COMMAND_CALLERS = 1_000;

export function createGuards(
  limits: { streams?: StreamLimits; login?: LoginLimits } = {},
  setupToken: SetupToken | null = null,
  logger?: Logger,
): HttpGuards {
  return {
    streams: new StreamRegistry(limits.streams ?? DEFAULT_STREAM_LIMITS),
    login: new LoginLimiter(limits.login ?? DEFAULT_LOGIN_LIMITS),
    setupToken,
    refusals: new Summarizer({
      perWindow: 5,
      onSuppressed: ({ key, suppressed }) =>
        logger?.warn({ key, suppressed }, `…and ${suppressed} more ${key} in the last minute`),
    }),
    commandCalls: new KeyedBuckets({
      ratePerSecond: COMMANDS_PER_SECOND_PER_CALLER,
      burst: COMMAND_BURST_PER_CALLER,
      maxKeys: MAX_COMMAND_CALLERS,
    }),
  };
}

export interface SimControl {
  /** Present a card/code at a simulated door; null when the door is not simulated. */
  present(doorId: string, kind: 'card' | 'keypad', value: string): Decision | null;
  act(doorId: string, action: 'open' | 'close' | 'rex'): boolean;
}

export interface StaffIdentity {
  id: string;
  username: string;
  role: StaffRole;
}

declare module 'fastify' {
  interface FastifyRequest {
    staff: StaffIdentity | null;
    /** The session token the request was authenticated with (null on the control socket). */
    sessionToken: string | null;
    /** Who runs commands for this request: `user:<name>`, or `cli:<os user>` on the control socket. */
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    /** Roles allowed on this route; absent = public. */
    roles?: StaffRole[];
  }
}

/** Every signed-in staff role. */
export const ANY_STAFF: StaffRole[] = ['admin', 'staff', 'installer'];

/**
 * The CLI names the operating-system user it runs as in this header. Honoured only on the control
 * socket (mode 0600: only the hub's owner can open it); any other listener ignores it.
 */
export const ACTOR_HEADER = 'x-gatehouse-actor';

/** `cli:<os user>` from the header, reduced to 1-64 safe characters; `cli:local` without one. */
export function cliActor(header: string | string[] | undefined): string {
  const raw = Array.isArray(header) ? header[0] : header;
  const safe = (raw ?? '').replace(/[^A-Za-z0-9_.@-]/g, '').slice(0, 64);
  return `cli:${safe || 'local'}`;
}
