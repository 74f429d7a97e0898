import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { SharedFolder } from '../driver.js';
import { mappedShareProblems, parseXattrProbe, userXattrs } from './xattr-probe.js';

describe('xattr probe (the mapped-xattr model needs user xattrs on a share)', () => {
  it("reads python3's errno name: ENODATA is a filesystem that keeps them, EOPNOTSUPP one that does not", () => {
    expect(parseXattrProbe('ENODATA\n')).toBe('yes');
    expect(parseXattrProbe('present\n')).toBe('yes');
    expect(parseXattrProbe('EOPNOTSUPP\n')).toBe('no');
    expect(parseXattrProbe('ENOTSUP')).toBe('no');
    // No python3 (empty), a folder gone (ENOENT), anything else: nothing is claimed.
    expect(parseXattrProbe('')).toBe('unknown');
    expect(parseXattrProbe('ENOENT')).toBe('unknown');
    expect(parseXattrProbe('EACCES')).toBe('unknown');
  });

  it('asks the real filesystem: a temp folder here keeps user xattrs, a missing one is unknown', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-xattr-'));
    try {
      expect(await userXattrs(dir)).toBe('yes');
      expect(await userXattrs(path.join(dir, 'missing'))).toBe('unknown');
      // The probe writes nothing.
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names each writable share without them, only for mapped-xattr', async () => {
    const shares: SharedFolder[] = [
      { tag: 'berth0', hostPath: '/ok', writable: true },
      { tag: 'berth1', hostPath: '/usb', writable: true },
      { tag: 'berth2', hostPath: '/usb-ro', writable: false },
    ];
    const asked: string[] = [];
    const run = async (dir: string) => {
      asked.push(dir);
      return dir.startsWith('/usb') ? 'EOPNOTSUPP' : 'ENODATA';
    };
    const lines = await mappedShareProblems(shares, 'mapped-xattr', run);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^shared folder \/usb: its filesystem keeps no extended attributes/);
    expect(lines[0]).toMatch(/cannot create files in it \(run berth as your own user/);
    // A read-only share is not asked: the guest cannot create files there anyway.
    expect(asked.sort()).toEqual(['/ok', '/usb']);
    expect(await mappedShareProblems(shares, 'none', run)).toEqual([]);
    // A probe that fails (python3 missing) says nothing.
    expect(
      await mappedShareProblems(shares, 'mapped-xattr', async () => {
        throw new Error('spawn python3 ENOENT');
      }),
    ).toEqual([]);
  });
});
