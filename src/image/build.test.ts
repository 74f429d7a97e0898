import { describe, expect, it } from 'vitest';
import { packageVersions, subordinateRange, withSbin } from './build.js';

describe('subordinateRange', () => {
  const subuid = ['alice:100000:65536', 'bob:165536:1000', '1002:231072:65536', ''].join('\n');

  it('finds a user by name or by uid', () => {
    expect(subordinateRange(subuid, 'alice', 1000)).toEqual({ first: 100000, count: 65536 });
    expect(subordinateRange(subuid, 'carol', 1002)).toEqual({ first: 231072, count: 65536 });
  });

  it('refuses a range too small for an image (65536 ids) and a user without one', () => {
    expect(subordinateRange(subuid, 'bob', 1001)).toBeUndefined();
    expect(subordinateRange(subuid, 'dave', 1003)).toBeUndefined();
    expect(subordinateRange('', 'alice', 1000)).toBeUndefined();
    expect(subordinateRange('alice:x:65536', 'alice', 1000)).toBeUndefined();
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
