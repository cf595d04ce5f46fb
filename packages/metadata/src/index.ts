export * from './types.js';
export { SqliteMetadataStore } from './sqlite.js';
