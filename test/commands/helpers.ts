// Commands over a real SQLite store in a temp dir (as the CLI runs them), or inside a real hub.
import { expect } from 'vitest';
import type { CommandsOptions } from '../../hub/commands/command.js';
import {
  ALL_COMMANDS,
  type Caller,
  CommandError,
  type CommandErrorCode,
  Commands,
  type Role,
} from '../../hub/commands/index.js';
import type { HubEvent } from '../../hub/domain.js';
import { silentLogger } from '../../hub/logger.js';
import type { Store } from '../../hub/store/store.js';
import { type TempHub, tempHub } from '../store/helpers.js';

export const ADMIN: Caller = { actor: 'cli:root', role: 'admin' };
export const STAFF: Caller = { actor: 'user:sam', role: 'staff' };
export const INSTALLER: Caller = { actor: 'user:ivan', role: 'installer' };
export const INTEGRATION: Caller = { actor: 'device:node-red', role: 'integration' };
export const CLOUD: Caller = { actor: 'cloud', role: 'cloud' };
export const CALLERS: Record<Role, Caller> = {
  admin: ADMIN,
  staff: STAFF,
  installer: INSTALLER,
  integration: INTEGRATION,
  cloud: CLOUD,
};

export interface StoreBench {
  temp: TempHub;
  store: Store;
  commands: Commands;
  run(name: string, input: unknown, caller?: Caller): Promise<Record<string, unknown>>;
  cleanup(): Promise<void>;
}

/**
 * A store opened as the CLI opens it, and the command table over it (no running hub). `options` as the
 * CLI gives them (e.g. the building's time zone).
 */
export function storeBench(options: Partial<CommandsOptions> = {}): StoreBench {
  const temp = tempHub();
  const { store } = temp.open();
  const commands = new Commands(ALL_COMMANDS, { store, logger: silentLogger(), ...options });
  return {
    temp,
    store,
    commands,
    run: async (name, input, caller = ADMIN) =>
      (await commands.execute(name, input, caller)) as Record<string, unknown>,
    cleanup: () => temp.cleanup(),
  };
}

/** The command's refusal: its code and message. */
export async function refusal(
  promise: Promise<unknown>,
): Promise<{ code: CommandErrorCode; message: string }> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(CommandError);
    const e = err as CommandError;
    return { code: e.code, message: e.message };
  }
  throw new Error('expected the command to be refused');
}

/** The newest event of this type. */
export function lastEvent(store: Store, type: string): HubEvent {
  const [event] = store.events.list({ type, limit: 1 });
  if (!event) throw new Error(`no '${type}' event`);
  return event;
}

/** Every role may run the command exactly when it is listed; the others are refused 'forbidden'. */
export async function expectOnlyRoles(
  commands: Commands,
  name: string,
  input: unknown,
  allowed: readonly Role[],
): Promise<void> {
  expect([...(commands.get(name)?.roles ?? [])].sort()).toEqual([...allowed].sort());
  for (const role of Object.keys(CALLERS) as Role[]) {
    if (allowed.includes(role)) continue;
    const refused = await refusal(commands.execute(name, input, CALLERS[role]));
    expect(refused, `${role} on ${name}`).toEqual({
      code: 'forbidden',
      message: `the ${role} role may not run '${name}'`,
    });
  }
}
