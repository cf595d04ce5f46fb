import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type SigningAlg = 'ES256' | 'RS256';

export interface SigningKey {
  readonly alg: SigningAlg;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly kid: string;
}

export interface VerificationKey {
  readonly kid: string;
  readonly key: KeyObject;
}

/**
 * The key ID Distribution (libtrust) derives from a public key: SHA-256 of its DER
 * SubjectPublicKeyInfo, first 240 bits, base32, in groups of four joined by `:`. Our
 * tokens carry it as `kid`, so a Distribution configured with a certificate of our key
 * (`rootcertbundle`) finds the key, and so do we.
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const sum = createHash('sha256').update(der).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of sum) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31] as string;
      bits -= 5;
    }
  }
  return (out.match(/.{1,4}/g) ?? []).join(':');
}

function keyMatches(key: KeyObject, alg: SigningAlg): boolean {
  if (alg === 'RS256') return key.asymmetricKeyType === 'rsa';
  return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
}

/**
 * The built-in token server's signing key: a PKCS#8 PEM file, created on first start
 * (P-256 for ES256, RSA 3072 for RS256; mode 0600, written to a temporary name and
 * linked into place, so two starts racing keep one key). Throws with a one-line reason.
 */
export function loadSigningKey(path: string, alg: SigningAlg): SigningKey {
  if (!existsSync(path)) {
    const pair = alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 3072 });
    const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' });
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, pem, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(tmp, path);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
    } finally {
      unlinkSync(tmp);
    }
  }
  const privateKey = createPrivateKey(readFileSync(path));
  if (!keyMatches(privateKey, alg)) {
    throw new Error(`${path} is not a ${alg === 'ES256' ? 'P-256 EC' : 'RSA'} key, as auth.tokenalg ${alg} needs`);
  }
  const publicKey = createPublicKey(privateKey);
  return { alg, privateKey, publicKey, kid: libtrustKeyId(publicKey) };
}

/** Public keys and certificates (their keys) from a PEM file, each with its libtrust kid. */
export function loadPublicKeys(path: string): VerificationKey[] {
  const text = readFileSync(path, 'utf8');
  const blocks = text.match(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g) ?? [];
  const keys: VerificationKey[] = [];
  for (const block of blocks) {
    let key: KeyObject;
    if (block.startsWith('-----BEGIN CERTIFICATE-----')) key = new X509Certificate(block).publicKey;
    else if (block.includes('PRIVATE KEY-----')) throw new Error(`${path} holds a private key; give the public key or certificate`);
    else key = createPublicKey(block);
    keys.push({ kid: libtrustKeyId(key), key });
  }
  if (keys.length === 0) throw new Error(`${path} holds no PEM public key or certificate`);
  return keys;
}
