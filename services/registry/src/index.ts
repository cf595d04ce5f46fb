export { createApp, type AppDeps, type RegistryApp } from './app.js';
export { startRegistry, type RunningRegistry } from './server.js';
export { loadConfig, dataPaths, ConfigError, SCHEMA, type Config } from './config/index.js';
export { createLogger, silentLogger, type Logger } from './logger.js';
export { Metrics } from './metrics.js';
