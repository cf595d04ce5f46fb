import { createRequire } from 'node:module';

type XattrAddon = typeof import('@napi-rs/xattr');

let addon: XattrAddon | undefined;

/**
 * The xattr addon, loaded on first use (~5 ms): unpacking, copying and diffing layers need
 * it; running a container whose layers are cached does not (their opaque directories are
 * listed in opaque.json, see LayerView).
 */
export function xattr(): XattrAddon {
  addon ??= createRequire(import.meta.url)('@napi-rs/xattr') as XattrAddon;
  return addon;
}
