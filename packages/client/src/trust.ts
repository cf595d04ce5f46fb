import { readFileSync, statSync } from 'node:fs';

/** A CA bundle is a few hundred KiB; a file past this is refused. */
const MAX_BUNDLE = 8 * 1024 * 1024;

let cached: { readonly file: string; readonly cas: readonly string[] | undefined } | undefined;

/**
 * The certificate authorities HTTPS connections trust: undefined for Node's defaults
 * (its bundled roots, plus NODE_EXTRA_CA_CERTS when node itself loaded that file), or
 * Node's roots plus the PEM certificates in BERTH_EXTRA_CA_CERTS, the file the `berth`
 * command takes over from NODE_EXTRA_CA_CERTS so that node does not parse it at every
 * start (bin/berth). As with NODE_EXTRA_CA_CERTS, a file that cannot be read is reported
 * once on stderr and the defaults are used.
 */
export async function trustedCas(env: NodeJS.ProcessEnv = process.env): Promise<readonly string[] | undefined> {
  const file = env['BERTH_EXTRA_CA_CERTS'];
  if (file === undefined || file === '') return undefined;
  if (cached?.file === file) return cached.cas;
  let cas: readonly string[] | undefined;
  try {
    if (statSync(file).size > MAX_BUNDLE) throw new Error(`larger than ${MAX_BUNDLE} bytes`);
    const pems = readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (pems.length === 0) throw new Error('no PEM certificate in it');
    // node:tls only here: it is loaded for the HTTPS connection anyway
    cas = [...(await import('node:tls')).rootCertificates, ...pems];
  } catch (err) {
    process.stderr.write(`berth: warning: ignoring extra CA certificates from ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
    cas = undefined;
  }
  cached = { file, cas };
  return cas;
}
