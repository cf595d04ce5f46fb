/**
 * @berth/tar: the tar format as images use it. `TarReader` streams the members of a layer
 * (ustar, pax and GNU long names; sizes and records bounded); `headerBlocks` writes pax
 * headers; `parseHeader`/`parsePax` read single blocks (for archives read by offset).
 */
export { InvalidTarError } from './errors.js';
export { BLOCK, isZeroBlock, parseHeader, parseNumber, parsePax, type RawHeader } from './header.js';
export { TarReader, type EntryType, type TarEntry, type TarHeader } from './reader.js';
export { END_OF_ARCHIVE, headerBlocks, padding, type WriteHeader } from './writer.js';
