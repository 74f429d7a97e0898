import fsp from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { BerthError } from '../util/errors.js';
import { sha256File } from '../util/hash.js';
import type { GuestImage } from './image.js';
import { imageSealSchema, type ImageSeal } from '../store/records.js';
import { ensureHome, writeFileAtomic } from '../store/instance-store.js';
import { homeFile } from '../store/paths.js';

export type { ImageSeal };

const PARTS = ['kernel', 'initrd', 'rootfs'] as const;

async function sealFile(file: string): Promise<ImageSeal['kernel']> {
  const st = await fsp.stat(file);
  return {
    sha256: await sha256File(file),
    size: st.size,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    ino: st.ino,
  };
}

export async function sealImage(img: GuestImage): Promise<ImageSeal> {
  return {
    dir: img.dir,
    kernel: await sealFile(img.kernel),
    initrd: await sealFile(img.initrd),
    rootfs: await sealFile(img.rootfs),
  };
}

/**
 * Checks an image's files against an instance's seal before they boot: the kernel and the initrd are hashed
 * every time (small); the root filesystem when its stat changed. Returns the seal to keep (the same, or with a
 * new stat for a root filesystem whose content is unchanged); a file that differs is refused.
 */
export async function checkImageSeal(img: GuestImage, seal: ImageSeal): Promise<ImageSeal> {
  if (seal.dir !== img.dir) throw new Error(`checkImageSeal: a seal of ${seal.dir}, not ${img.dir}`);
  const out = { ...seal };
  for (const part of PARTS) {
    const file = img[part];
    const want = seal[part];
    const st = await fsp.stat(file).catch(() => undefined);
    if (
      part === 'rootfs' &&
      st &&
      st.size === want.size &&
      st.mtimeMs === want.mtimeMs &&
      st.ctimeMs === want.ctimeMs &&
      st.ino === want.ino
    )
      continue;
    const now = st ? await sealFile(file) : undefined;
    if (!now || now.sha256 !== want.sha256) {
      throw new BerthError(
        'IMAGE',
        `the guest image file ${file} is not the one this instance was made with (sha256 ${now?.sha256.slice(0, 16) ?? 'missing'}…, expected ${want.sha256.slice(0, 16)}…): refusing to boot it`,
        {
          hint: `something changed berth's image cache; remove ${img.dir}, rebuild it ("berth image build"), then "berth start --upgrade" moves the instance to the new one`,
        },
      );
    }
    out[part] = now;
  }
  return out;
}

const userSeals = z.record(imageSealSchema);

/** The seals this user recorded when building or importing images (outside the image cache). */
export async function userImageSeal(dir: string): Promise<ImageSeal | undefined> {
  try {
    const all = userSeals.safeParse(JSON.parse(await fsp.readFile(homeFile('imageSeals'), 'utf8')));
    return all.success ? all.data[dir] : undefined;
  } catch {
    return undefined;
  }
}

/** Seals a freshly built or imported image and records it for the user (a corrupt record starts afresh). */
export async function recordUserImageSeal(img: GuestImage): Promise<void> {
  const seal = await sealImage(img);
  let all: Record<string, ImageSeal> = {};
  try {
    const r = userSeals.safeParse(JSON.parse(await fsp.readFile(homeFile('imageSeals'), 'utf8')));
    if (r.success) all = r.data;
  } catch {
    // none yet
  }
  all[img.dir] = seal;
  await ensureHome();
  await fsp.mkdir(path.dirname(homeFile('imageSeals')), { recursive: true, mode: 0o700 });
  await writeFileAtomic(homeFile('imageSeals'), JSON.stringify(all, null, 2) + '\n', 0o600);
}
