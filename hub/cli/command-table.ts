// The commands the CLI offers: the hub's one command table (hub/commands).
import type { CommandDef } from '../commands/command.js';

export const CLI_COMMANDS: readonly CommandDef[] = [];
