import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ssh2 from 'ssh2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureKeyPair, generateKeyPair } from './ssh-keys.js';

let dir: string;
beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-keys-'));
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('generateKeyPair', () => {
  it('returns only pairs ssh2 can parse (ssh2 itself gets about 1 in 256 wrong)', () => {
    // 1,000 pairs: with the bug unguarded, at least one bad pair shows up with probability ~98 %.
    for (let i = 0; i < 1000; i++) {
      const k = generateKeyPair('t');
      expect(ssh2.utils.parseKey(k.privateKey)).not.toBeInstanceOf(Error);
      expect(ssh2.utils.parseKey(k.publicKey)).not.toBeInstanceOf(Error);
    }
  });
});

describe('ensureKeyPair', () => {
  it('creates the pair with mode 0600 and loads the same pair the next time', async () => {
    const priv = path.join(dir, 'k', 'id');
    const a = await ensureKeyPair(priv, `${priv}.pub`, 'c');
    expect(fs.statSync(priv).mode & 0o777).toBe(0o600);
    expect(fs.statSync(`${priv}.pub`).mode & 0o777).toBe(0o600);
    expect(a.publicKey).toMatch(/^ssh-ed25519 \S+ c$/);
    expect(await ensureKeyPair(priv, `${priv}.pub`, 'c')).toEqual(a);
    expect(fs.readdirSync(path.join(dir, 'k')).sort()).toEqual(['id', 'id.pub']);
  });

  it('replaces a stored pair that ssh2 cannot read', async () => {
    const priv = path.join(dir, 'id');
    await fsp.writeFile(
      priv,
      '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n',
    );
    await fsp.writeFile(`${priv}.pub`, 'ssh-ed25519 AAAA c\n');
    const k = await ensureKeyPair(priv, `${priv}.pub`, 'c');
    expect(ssh2.utils.parseKey(await fsp.readFile(priv, 'utf8'))).not.toBeInstanceOf(Error);
    expect((await fsp.readFile(`${priv}.pub`, 'utf8')).trim()).toBe(k.publicKey);
  });
});

describe('loginKey', () => {
  it("the instance's own key; a VM an older berth booted keeps the per-user key until its next cold boot", async () => {
    const { loginKey } = await import('./ssh-keys.js');
    const home = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-keys-'));
    process.env.BERTH_HOME = home;
    try {
      await fsp.mkdir(path.join(home, 'box'), { recursive: true });
      await fsp.mkdir(path.join(home, '_config'), { recursive: true });
      const legacy = await ensureKeyPair(
        path.join(home, '_config', 'user_ed25519'),
        path.join(home, '_config', 'user_ed25519.pub'),
        'berth',
      );
      expect((await loginKey('box')).publicKey).toBe(legacy.publicKey);
      const own = await ensureKeyPair(
        path.join(home, 'box', 'user_ed25519'),
        path.join(home, 'box', 'user_ed25519.pub'),
        'berth@box',
      );
      expect((await loginKey('box')).publicKey).toBe(own.publicKey);
      expect(own.publicKey).not.toBe(legacy.publicKey);
    } finally {
      delete process.env.BERTH_HOME;
      await fsp.rm(home, { recursive: true, force: true });
    }
  });
});
