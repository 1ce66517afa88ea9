// "Run this command here or in the hub": a command that needs only the store (`runs: 'store'`) runs in
// this process on the store the hub also uses; one that needs the hub's live parts (`runs: 'hub'`: unlock,
// clock accept) goes to the running hub over the control socket, on the command's own
// HTTP route. Either way the caller is `cli:<os user>` as admin (docs/cli.md).
import os from 'node:os';
import {
  type Caller,
  type CommandDef,
  CommandError,
  type CommandErrorCode,
  Commands,
  type CommandsOptions,
  codeOfStatus,
  fillRoute,
} from '../commands/command.js';
import { silentLogger } from '../logger.js';
import type { Store } from '../store/store.js';
import { callHub } from './hub-client.js';

/** The operating-system user, reduced to the characters the hub keeps in an actor. */
export function osUser(): string {
  let name = '';
  try {
    name = os.userInfo().username;
  } catch {
    name = process.env.USER ?? '';
  }
  return name.replace(/[^A-Za-z0-9_.@-]/g, '').slice(0, 64) || 'local';
}

/** The hub answers every command within its 30 s request timeout (door capture-card waits up to 25 s). */
const HUB_COMMAND_TIMEOUT_MS = 35_000;

export function cliCaller(): Caller {
  return { actor: `cli:${osUser()}`, role: 'admin' };
}

export interface RunWhere {
  dataDir: string;
  /** Opens the store for a `runs: 'store'` command; the runner closes it. */
  openStore: () => { store: Store; close(): void };
  /** Extra options for the in-process command table (e.g. offline codes over the same store). */
  commandOptions?: (store: Store) => Partial<CommandsOptions>;
}

/** Runs command `name` with `input` as `cli:<os user>`; refusals are thrown as CommandError. */
export async function runCommand(
  defs: readonly CommandDef[],
  name: string,
  input: Record<string, unknown>,
  where: RunWhere,
): Promise<unknown> {
  const def = defs.find((d) => d.name === name);
  if (!def) throw new Error(`the command table has no '${name}'`);
  if (def.runs === 'hub') {
    const { url, rest } = fillRoute(def.http.path, input);
    const query =
      def.http.method === 'GET' && Object.keys(rest).length > 0
        ? `?${new URLSearchParams(Object.entries(rest).map(([k, v]): [string, string] => [k, String(v)])).toString()}`
        : '';
    const res = await callHub(
      where.dataDir,
      def.http.method,
      `${url}${query}`,
      def.http.method === 'GET' ? undefined : rest,
      // The control socket (mode 0600) takes the OS user from this header and adds `cli:` itself.
      { 'x-gatehouse-actor': osUser() },
      HUB_COMMAND_TIMEOUT_MS,
    );
    if (res.status >= 400) {
      const code = (typeof res.body.code === 'string' ? res.body.code : codeOfStatus(res.status)) as
        | CommandErrorCode
        | undefined;
      throw new CommandError(
        code ?? 'refused',
        String(res.body.error ?? `the hub answered HTTP ${res.status}`),
      );
    }
    return res.body;
  }
  const opened = where.openStore();
  try {
    return await executeOn(opened.store, defs, name, input, where.commandOptions?.(opened.store));
  } finally {
    opened.close();
  }
}

/** Runs a `runs: 'store'` command on a store this process already has open, as `cli:<os user>`. */
export function executeOn(
  store: Store,
  defs: readonly CommandDef[],
  name: string,
  input: Record<string, unknown>,
  options: Partial<CommandsOptions> = {},
): Promise<unknown> {
  const commands = new Commands(defs, { store, logger: silentLogger(), ...options });
  return commands.execute(name, input, cliCaller());
}
