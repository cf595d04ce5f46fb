import type { Descriptor, ParsedManifest } from '@berth/oci';
import { RegistryError } from './errors.js';

/** An OCI platform: os/architecture[/variant]. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string | undefined;
}

const NODE_ARCH: Readonly<Record<string, string>> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};

/** The platform images run on here: always linux, the host's CPU architecture. */
export function hostPlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  if (architecture === 'arm') return { os: 'linux', architecture, variant: 'v7' };
  return { os: 'linux', architecture };
}

export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  const [os, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || os === undefined || os === '' || architecture === undefined || architecture === '' || variant === '') {
    throw new RegistryError('platform', `invalid platform "${text}": expected os/arch[/variant], e.g. linux/arm64`);
  }
  return { os, architecture, ...(variant !== undefined ? { variant } : {}) };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant !== undefined && p.variant !== '' ? `/${p.variant}` : ''}`;
}

/** arm64 without a variant is v8, as containerd's platforms package normalises it. */
function normalVariant(p: Platform): string {
  const v = p.variant ?? '';
  if (p.architecture === 'arm64' && v === '') return 'v8';
  if (p.architecture === 'arm' && v === '') return 'v7';
  return v;
}

export interface PlatformDescriptor extends Descriptor {
  readonly platform?: Platform;
}

/**
 * The index entry for `want`: same os and architecture, and the same variant when one is
 * asked for (normalised). Without a variant the entry with the default variant wins.
 */
export function selectPlatform(manifests: readonly PlatformDescriptor[], want: Platform): PlatformDescriptor | undefined {
  const candidates = manifests.filter((m) => m.platform !== undefined && m.platform.os === want.os && m.platform.architecture === want.architecture);
  const exact = candidates.find((m) => m.platform !== undefined && normalVariant(m.platform) === normalVariant(want));
  if (exact !== undefined || want.variant !== undefined) return exact;
  return candidates[0];
}

/** Reads `platform` of index entries (parseDescriptor drops it). */
export function platformOf(raw: unknown): Platform | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const p = (raw as Record<string, unknown>)['platform'];
  if (typeof p !== 'object' || p === null) return undefined;
  const o = p as Record<string, unknown>;
  if (typeof o['os'] !== 'string' || typeof o['architecture'] !== 'string') return undefined;
  return { os: o['os'], architecture: o['architecture'], ...(typeof o['variant'] === 'string' ? { variant: o['variant'] } : {}) };
}

/** The entries of a parsed index with their platforms (parseManifest drops `platform`). */
export function indexEntries(parsed: ParsedManifest, bytes: Buffer): PlatformDescriptor[] {
  const raw = (JSON.parse(bytes.toString('utf8')) as { manifests?: unknown[] }).manifests ?? [];
  return parsed.manifests.map((d, i) => {
    const platform = platformOf(raw[i]);
    return platform !== undefined ? { ...d, platform } : d;
  });
}
