// MQTT bridge requests are commands: `gatehouse/bridge/request/{name}` runs the command `{name}` for an
// integration account, and `bridge/response/{name}` answers it (docs/mqtt.md §6). Same table, same policy
// and the same audit actor rules as HTTP and the CLI (docs/architecture.md).
import { type Caller, type CommandErrorCode, type Commands, toCommandError } from '../commands/command.js';
import type { Logger } from '../logger.js';
import type { DeviceIdentity } from './acl.js';
import type { BridgeRequestHandler } from './broker.js';

/** What an integration reads on `bridge/response/{name}` (the broker adds its `transaction`). */
export type BridgeAnswer =
  | { ok: true; result: unknown }
  | { ok: false; error: { code: CommandErrorCode | 'internal'; message: string } };

/**
 * The caller an integration account acts as: for every door, or only for the doors it was given.
 * Door devices never call.
 */
export function bridgeCaller(device: DeviceIdentity): Caller | null {
  if (device.role !== 'integration') return null;
  const caller: Caller = {
    actor: `device:${device.id}`,
    role: 'integration',
    ...(device.grants && device.grants.length > 0 ? { grants: [...device.grants] } : {}),
  };
  return device.doors.length > 0 ? { ...caller, doors: [...device.doors] } : caller;
}

/** The commands an integration account may call, for docs/mqtt.md and the tests. */
export function integrationCommands(commands: Commands): string[] {
  return commands
    .list()
    .filter((def) => def.roles.includes('integration'))
    .map((def) => def.name)
    .sort();
}

export function commandBridge(commands: Commands, logger: Logger): BridgeRequestHandler {
  return async (name, request, from): Promise<BridgeAnswer> => {
    const caller = bridgeCaller(from);
    if (!caller) {
      // The broker's ACL already refuses the publish; this holds if the two ever disagree.
      return {
        ok: false,
        error: {
          code: 'forbidden',
          message: `device '${from.id}' is a door device: it may not call commands`,
        },
      };
    }
    // The correlation id is the broker's; the rest of the payload is the command's input.
    const { transaction: _transaction, ...input } = request;
    try {
      const result = await commands.execute(name, input, caller);
      return { ok: true, result: result ?? null };
    } catch (err) {
      const refusal = toCommandError(err);
      if (refusal) return { ok: false, error: { code: refusal.code, message: refusal.message } };
      logger.error({ err, request: name.slice(0, 64), device: from.id }, 'bridge request failed');
      return { ok: false, error: { code: 'internal', message: 'internal error: see the hub log' } };
    }
  };
}
