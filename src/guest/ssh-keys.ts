import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import ssh2 from 'ssh2';
import { HOME_CONFIG_DIR, tempFile } from '../store/filenames.js';
import { berthHome, instanceFile } from '../store/paths.js';
import { isErrnoException } from '../util/errors.js';

export interface KeyPair {
  privateKey: string;
  publicKey: string;
}

/** True when ssh2 can read both halves back (the client parses the private key, sshd the public one). */
function readable(privateKey: string, publicKey: string): boolean {
  return (
    !(ssh2.utils.parseKey(privateKey) instanceof Error) && !(ssh2.utils.parseKey(publicKey) instanceof Error)
  );
}

/**
 * A new ed25519 key pair that ssh2 can parse. ssh2 1.17 strips leading zero bytes from a generated public key,
 * so about one key in 256 comes out malformed (mscdex/ssh2#1513) and the SSH connection would fail forever:
 * such a key is thrown away and another generated.
 */
export function generateKeyPair(comment: string): KeyPair {
  for (let i = 0; i < 32; i++) {
    // ssh2 puts the comment at the end of the public line itself.
    const k = ssh2.utils.generateKeyPairSync('ed25519', { comment });
    if (readable(k.private, k.public)) return { privateKey: k.private, publicKey: k.public.trim() };
  }
  throw new Error('could not generate a readable ed25519 key pair');
}

/**
 * Loads an ed25519 key pair (OpenSSH format), generating it on first use with mode 0600. A stored pair ssh2
 * cannot read (written by an earlier berth, see generateKeyPair) is replaced.
 */
export async function ensureKeyPair(privFile: string, pubFile: string, comment: string): Promise<KeyPair> {
  try {
    const stored = {
      privateKey: await fsp.readFile(privFile, 'utf8'),
      publicKey: (await fsp.readFile(pubFile, 'utf8')).trim(),
    };
    if (readable(stored.privateKey, stored.publicKey)) return stored;
  } catch (err) {
    if (!isErrnoException(err, 'ENOENT')) throw err;
  }
  await fsp.mkdir(path.dirname(privFile), { recursive: true, mode: 0o700 });
  const k = generateKeyPair(comment);
  // Private key last, under a name of this process: a reader sees either no key or a whole pair.
  const tmp = tempFile(privFile, true);
  await fsp.writeFile(tmp, k.privateKey, { mode: 0o600 });
  await fsp.writeFile(pubFile, `${k.publicKey}\n`, { mode: 0o600 });
  await fsp.rename(tmp, privFile);
  return k;
}

/** The raw public key blob of an "ssh-ed25519 AAAA… comment" line, for host key pinning. */
export function publicKeyBlob(line: string): Buffer {
  const b64 = line.trim().split(/\s+/)[1];
  if (!b64) throw new Error(`not an OpenSSH public key line: ${line.slice(0, 40)}`);
  return Buffer.from(b64, 'base64');
}

/**
 * The key berth logs in to an instance's guest with: the instance's own (made at its cold boot, handed to the
 * guest), or, for a VM booted by an older berth that used one key per user, that key until the next cold boot.
 */
export async function loginKey(name: string): Promise<KeyPair> {
  const own = instanceFile(name, 'userKey');
  const legacy = path.join(berthHome(), HOME_CONFIG_DIR, 'user_ed25519');
  if (!fs.existsSync(own) && fs.existsSync(legacy)) return ensureKeyPair(legacy, `${legacy}.pub`, 'berth');
  return ensureKeyPair(own, instanceFile(name, 'userKeyPub'), `berth@${name}`);
}
