import fsp from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import { isErrnoException } from '../util/errors.js';

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/** Loads an ed25519 key pair (OpenSSH format), generating it on first use with mode 0600. */
export async function ensureKeyPair(privFile: string, pubFile: string, comment: string): Promise<KeyPair> {
  try {
    return { privateKey: await fsp.readFile(privFile, 'utf8'), publicKey: (await fsp.readFile(pubFile, 'utf8')).trim() };
  } catch (err) {
    if (!isErrnoException(err, 'ENOENT')) throw err;
  }
  await fsp.mkdir(path.dirname(privFile), { recursive: true, mode: 0o700 });
  const k = ssh2.utils.generateKeyPairSync('ed25519', { comment });
  await fsp.writeFile(`${privFile}.tmp`, k.private, { mode: 0o600 });
  await fsp.writeFile(pubFile, `${k.public} ${comment}\n`, { mode: 0o600 });
  await fsp.rename(`${privFile}.tmp`, privFile);
  return { privateKey: k.private, publicKey: `${k.public} ${comment}` };
}

/** The raw public key blob of an "ssh-ed25519 AAAA… comment" line, for host key pinning. */
export function publicKeyBlob(line: string): Buffer {
  const b64 = line.trim().split(/\s+/)[1];
  if (!b64) throw new Error(`not an OpenSSH public key line: ${line.slice(0, 40)}`);
  return Buffer.from(b64, 'base64');
}
