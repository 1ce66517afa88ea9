// The commands the CLI offers: the hub's one command table (hub/commands).
export { ALL_COMMANDS as CLI_COMMANDS } from '../commands/index.js';
