export { LocalStore, StoreSession } from './store.js';
export type { ImageRow, NameRow, NewImage } from './store.js';
export { BlobIngest } from './ingest.js';
export { defaultRoot, StorePaths } from './paths.js';
export { AmbiguousImageError, DigestMismatchError, ImageNotFoundError } from './errors.js';
export { saveImages, familiarName, layoutBlobPath, type SaveItem } from './archive/save.js';
export { loadImages, ArchiveError, type LoadedImage, type LoadOptions } from './archive/load.js';
export { InvalidTarError } from '@berth/tar';
