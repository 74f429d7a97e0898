import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildTmpDir, packageVersions, subordinateRange, withSbin } from './build.js';

describe('subordinateRange', () => {
  const subuid = ['alice:100000:65536', 'bob:165536:1000', 'bob:300000:65536', '1002:231072:65536', ''].join(
    '\n',
  );

  it("finds a user's first line by name, as mmdebstrap does", () => {
    expect(subordinateRange(subuid, 'alice')).toEqual({ first: 100000, count: 65536 });
    // mmdebstrap never matches a uid, and uses only the first line of a name.
    expect(subordinateRange(subuid, '1002')).toEqual({ first: 231072, count: 65536 });
    expect(subordinateRange(subuid, 'carol')).toBeUndefined();
  });

  it('refuses a first range too small for an image (65536 ids), a later one does not count', () => {
    expect(subordinateRange(subuid, 'bob')).toBeUndefined();
    expect(subordinateRange('', 'alice')).toBeUndefined();
    expect(subordinateRange('alice:x:65536', 'alice')).toBeUndefined();
  });
});

describe('withSbin', () => {
  it("adds the system folders an ordinary user's PATH lacks, once", () => {
    expect(withSbin('/usr/local/bin:/usr/bin:/bin')).toBe('/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin');
    expect(withSbin('/usr/sbin:/usr/bin:/sbin')).toBe('/usr/sbin:/usr/bin:/sbin');
    expect(withSbin('')).toBe('/usr/sbin:/sbin');
  });
});

describe('packageVersions', () => {
  it("picks the kernel and the engine's daemons from the image's package list", () => {
    const list =
      'linux-image-6.12.1-amd64\t6.12.1-1\ndocker.io\t28.5.2\ncontainerd\t2.1.9\nrunc\t1.3.6\nbash\t5.2\n';
    expect(packageVersions(list)).toEqual({
      kernel: '6.12.1-amd64',
      dockerd: '28.5.2',
      containerd: '2.1.9',
      runc: '1.3.6',
    });
  });
});

describe('buildTmpDir', () => {
  it("takes a shared TMPDIR, and /var/tmp instead of a user's private one, saying so", async () => {
    const priv = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tmpdir-'));
    try {
      const said: string[] = [];
      expect(await buildTmpDir({ TMPDIR: '/tmp' }, false)).toBe('/tmp');
      expect(await buildTmpDir({}, false)).toBe('/var/tmp');
      expect(await buildTmpDir({ TMPDIR: priv }, false, (m) => said.push(m))).toBe('/var/tmp');
      expect(said.join('\n')).toMatch(/is not a shared folder/);
      // root needs no shared folder: no user namespace writes there
      expect(await buildTmpDir({ TMPDIR: priv }, true)).toBe(priv);
    } finally {
      fs.rmSync(priv, { recursive: true, force: true });
    }
  });
});
