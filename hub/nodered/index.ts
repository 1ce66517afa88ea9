// Node-RED for installer flows: a supervised child process (docs/architecture.md, "Node-RED").
export { brokerConnection, NODE_RED_ACCOUNT, NODE_RED_GRANTS, provisionNodeRedAccount } from './account.js';
export { type NodeRedConfig, NodeRedConfigSchema } from './config.js';
export { ADMIN_ROOT, TOKEN_HEADER } from './settings.js';
export {
  disabledNodeRedStatus,
  type NodeRedState,
  type NodeRedStatus,
  NodeRedSupervisor,
} from './supervisor.js';
export type { NodeRedTarget } from './target.js';
