export {
  ConfigError,
  configLeaves,
  envNameFor,
  type LoadedConfig,
  loadConfig,
  resolveConfig,
} from './load.js';
export { type Config, ConfigSchema } from './schema.js';
