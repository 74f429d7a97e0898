import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkHome, MAX_HOME_PATH } from './instance-store.js';

let dir: string;

describe('checkHome: a BERTH_HOME someone else could change is refused', () => {
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'bh-'));
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('accepts a 0700 folder of the user', async () => {
    await expect(checkHome(dir)).resolves.toBeUndefined();
  });

  it('refuses one writable by others, with the chmod that fixes it', async () => {
    await fsp.chmod(dir, 0o777);
    await expect(checkHome(dir)).rejects.toMatchObject({
      code: 'PERMISSION',
      message: expect.stringMatching(/writable by others \(mode 777\)/),
      hint: `chmod 700 ${dir}`,
    });
  });

  it('refuses a symbolic link and a path too long for its sockets', async () => {
    const link = path.join(dir, 'link');
    await fsp.mkdir(path.join(dir, 'real'), { mode: 0o700 });
    await fsp.symlink(path.join(dir, 'real'), link);
    await expect(checkHome(link)).rejects.toThrow(/is a symbolic link/);
    const long = path.join(dir, 'x'.repeat(MAX_HOME_PATH));
    await fsp.mkdir(long, { mode: 0o700 });
    await expect(checkHome(long)).rejects.toThrow(/too long for the sockets/);
  });
});
