import { createRequire } from 'node:module';

type XattrAddon = typeof import('@napi-rs/xattr');

let addon: XattrAddon | undefined;

/**
 * The xattr addon, loaded on first use (~5 ms): a container whose layers are already
 * unpacked, and whose image has one layer, never needs it.
 */
export function xattr(): XattrAddon {
  addon ??= createRequire(import.meta.url)('@napi-rs/xattr') as XattrAddon;
  return addon;
}
