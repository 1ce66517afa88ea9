// The cloud mirror's commands (docs/cloud-protocol.md) are door.unlock and door.set_mode run as the
// cloud: the same policy and refusal texts as every other route, with actor 'cloud'.
import type { CloudCommandHandler } from '../cloud/port.js';
import type { Caller, Commands } from './command.js';

export const CLOUD_CALLER: Caller = { actor: 'cloud', role: 'cloud' };

export function cloudCommands(commands: Commands): CloudCommandHandler {
  return {
    unlock: async (doorId, ms) => {
      await commands.execute('door.unlock', { id: doorId, ms }, CLOUD_CALLER);
    },
    setMode: async (doorId, mode) => {
      await commands.execute('door.set_mode', { id: doorId, mode }, CLOUD_CALLER);
    },
  };
}
