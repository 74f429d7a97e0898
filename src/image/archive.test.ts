import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkArchive } from './cache.js';

let dir: string;

async function archive(files: string[], link?: string): Promise<string> {
  const src = path.join(dir, `src-${Math.random().toString(16).slice(2)}`);
  await fsp.mkdir(src);
  for (const f of files) await fsp.writeFile(path.join(src, f), f);
  if (link) await fsp.symlink('/etc/passwd', path.join(src, link));
  const out = path.join(dir, `${path.basename(src)}.tar`);
  const tar = await import('tar');
  await tar.c({ file: out, cwd: src, portable: true }, [...files, ...(link ? [link] : [])]);
  return out;
}

const IMAGE = ['vmlinuz', 'initrd.img', 'rootfs.qcow2', 'image.json'];

describe('checkArchive: an image archive holds the image files and nothing else', () => {
  beforeEach(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-archive-'));
  });
  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('accepts the four files', async () => {
    await expect(checkArchive(await archive(IMAGE))).resolves.toBeUndefined();
  });

  it('refuses a symbolic link, an extra member, and something that is not a tar', async () => {
    await expect(checkArchive(await archive(IMAGE.slice(1), 'vmlinuz'))).rejects.toMatchObject({
      code: 'IMAGE',
      message: expect.stringMatching(/vmlinuz: a SymbolicLink, not a regular file/),
    });
    await expect(checkArchive(await archive([...IMAGE, 'extra']))).rejects.toThrow(
      /extra: not an image file/,
    );
    const junk = path.join(dir, 'junk.tar');
    await fsp.writeFile(junk, 'not a tar at all, but long enough to look like a header? no.'.repeat(20));
    await expect(checkArchive(junk)).rejects.toMatchObject({ code: 'IMAGE' });
  });
});
