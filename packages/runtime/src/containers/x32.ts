import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BOOT_ID = '/proc/sys/kernel/random/boot_id';

/** The kernel's build configuration, from /proc/config.gz or /boot/config-<release>; undefined when neither is readable. */
function kernelConfig(): string | undefined {
  try {
    return process.getBuiltinModule('node:zlib').gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
  } catch {
    // not built with IKCONFIG_PROC: the distribution's copy
  }
  try {
    return readFileSync(`/boot/config-${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`, 'latin1');
  } catch {
    return undefined;
  }
}

/**
 * Whether this kernel can run x32-ABI system calls (CONFIG_X86_X32_ABI). A seccomp filter
 * for an ABI the kernel cannot execute filters nothing, but runc compiles it all the same
 * (~10 ms of every `runc run` here), so the default profile names SCMP_ARCH_X32 only where
 * the kernel may have it: when its configuration cannot be read, it is assumed to (docker's
 * choice). The answer is kept per boot in `runDir`.
 */
export function kernelHasX32(runDir: string): boolean {
  const cache = join(runDir, 'kernel-x32');
  let boot = '';
  try {
    boot = readFileSync(BOOT_ID, 'utf8').trim();
    const [id, answer] = readFileSync(cache, 'utf8').split(' ');
    if (id === boot && (answer === 'y' || answer === 'n')) return answer === 'y';
  } catch {
    // not known yet this boot
  }
  const config = kernelConfig();
  const has = config === undefined || /^CONFIG_X86_X32(_ABI)?=y$/m.test(config);
  if (boot !== '') {
    try {
      mkdirSync(runDir, { recursive: true, mode: 0o700 });
      const tmp = `${cache}.${process.pid}`;
      writeFileSync(tmp, `${boot} ${has ? 'y' : 'n'}`);
      renameSync(tmp, cache);
    } catch {
      // asked again next time
    }
  }
  return has;
}
