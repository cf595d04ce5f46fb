export { buildProgram } from './program.js';
export { findLocal, repositoryKey } from './local.js';
