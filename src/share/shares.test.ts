import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInstanceConfig } from '../config/load.js';
import { guestHiddenPaths, guestMountTable, resolveShares, syncId, type Share } from './shares.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-shares-'));
fs.mkdirSync(path.join(tmp, 'a,b'));
fs.writeFileSync(path.join(tmp, 'file'), '');
const cfg = (yaml: string) => parseInstanceConfig(yaml, 'f.yaml');

describe('resolveShares', () => {
  it('defaults to the home directory, writable, at the same path, cache=mmap', () => {
    const s = resolveShares(cfg(''), 'f.yaml', tmp);
    expect(s).toEqual([
      { tag: 'berth0', hostPath: tmp, guestPath: tmp, writable: true, cache: 'mmap', sync: false },
    ]);
  });

  it('expands ~, keeps a mountPoint, numbers the tags', () => {
    const s = resolveShares(
      cfg(`mounts:\n  - location: "~"\n  - location: "~/a,b"\n    mountPoint: /data\n    writable: false\n`),
      'f.yaml',
      tmp,
    );
    expect(s.map((x) => [x.tag, x.hostPath, x.guestPath, x.writable])).toEqual([
      ['berth0', tmp, tmp, true],
      ['berth1', path.join(tmp, 'a,b'), '/data', false],
    ]);
    expect(guestMountTable(s)).toBe(
      `berth0\t${tmp}\trw,msize=512000,cache=mmap\nberth1\t/data\tro,msize=512000,cache=mmap\n`,
    );
  });

  it('marks a synchronised folder in the guest mount table with an id from its host path', () => {
    const s = resolveShares(cfg(`mounts:\n  - location: "~/a,b"\n    sync: true\n`), 'f.yaml', tmp);
    const id = syncId(path.join(tmp, 'a,b'));
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(id).not.toBe(syncId(tmp));
    expect(guestMountTable(s)).toBe(
      `berth0\t${path.join(tmp, 'a,b')}\trw,msize=512000,cache=mmap,berth.sync=${id}\n`,
    );
    expect(() => cfg('mounts:\n  - location: /x\n    sync: yes please\n')).toThrow(/mounts\[0\]\.sync/);
  });

  it.each([
    [
      `mounts:\n  - location: ${'/nonexistent-berth'}\n`,
      /mounts\[0\]\.location: \/nonexistent-berth does not exist/,
    ],
    [`mounts:\n  - location: FILE\n`, /is not a directory/],
    [
      `mounts:\n  - location: TMP\n    mountPoint: /usr/lib\n`,
      /mounts\[0\]\.mountPoint: \/usr\/lib is a system directory of the guest/,
    ],
    [
      `mounts:\n  - location: TMP\n  - location: TMP\n`,
      /mounts\[1\]\.mountPoint: .* is already shared by mounts\[0\]/,
    ],
  ])('rejects %j with the field named', (yaml, msg) => {
    const text = yaml.replace('FILE', path.join(tmp, 'file')).replaceAll('TMP', tmp);
    expect(() => resolveShares(cfg(text), 'f.yaml', tmp)).toThrow(msg);
  });

  it('rejects relative locations and guest paths in the schema, with the line', () => {
    expect(() => cfg('mounts:\n  - location: src\n')).toThrow(
      /f\.yaml:2:15: mounts\[0\]\.location: must be an absolute path or start with ~/,
    );
    expect(() => cfg('mounts:\n  - location: /x\n    mountPoint: rel\n')).toThrow(
      /mounts\[0\]\.mountPoint: must be an absolute guest path/,
    );
  });
});

describe('guestHiddenPaths', () => {
  const share = (hostPath: string, guestPath: string, sync = false): Share => ({
    tag: 'berth0',
    hostPath,
    guestPath,
    writable: true,
    cache: 'mmap',
    sync,
  });

  it("names berth's folders that fall inside a share, at their guest paths", () => {
    const dirs = ['/home/u/.berth', '/home/u/.cache/berth'];
    expect(guestHiddenPaths([share('/home/u', '/home/u')], dirs)).toBe(
      '/home/u/.berth\n/home/u/.cache/berth\n',
    );
    expect(guestHiddenPaths([share('/home/u', '/h')], dirs)).toBe('/h/.berth\n/h/.cache/berth\n');
    expect(guestHiddenPaths([share('/home/u/src', '/src'), share('/data', '/data')], dirs)).toBe('');
    expect(guestHiddenPaths([share('/home/u/.cache', '/c')], dirs)).toBe('/c/berth\n');
  });

  it("a synchronised folder: at its host side's mount, escaped like the mount table's paths", () => {
    expect(guestHiddenPaths([share('/home/u', '/home/u', true)], ['/home/u/my\nberth'])).toBe(
      '/run/berth/sync/berth0/my%0Aberth\n',
    );
  });
});
