export { loadConfig, dataPaths, ConfigError, type LoadOptions } from './load.js';
export { SCHEMA, type Config } from './schema.js';
export { parseListenAddress } from './parse.js';
