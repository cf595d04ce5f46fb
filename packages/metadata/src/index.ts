export * from './types.js';
export { SqliteMetadataStore } from './sqlite.js';
export { SqliteBlobCatalog, type CatalogLocation, type CatalogUploadState } from './catalog.js';
