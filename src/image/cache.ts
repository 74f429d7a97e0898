import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import type { Arch } from '../config/schema.js';
import { CACHE_FILES, tempFile } from '../store/filenames.js';
import { imageCacheDir } from '../store/paths.js';
import { BerthError, isErrnoException } from '../util/errors.js';
import { buildImage } from './build.js';
import { IMAGE_FILES, type GuestImage, type ImageManifest, type ProgressFn } from './image.js';
import type { GuestRuntime } from '../guest/guest-tree.js';
import { defaultRecipe, recipeHash } from './recipe.js';
import { recordUserImageSeal } from './seal.js';
import { download } from './download.js';

export interface ImageSource {
  path?: string;
  url?: string;
  sha256?: string;
}

export async function loadImage(dir: string): Promise<GuestImage | undefined> {
  try {
    const manifest = JSON.parse(
      await fsp.readFile(path.join(dir, IMAGE_FILES.manifest), 'utf8'),
    ) as ImageManifest;
    const img: GuestImage = {
      id: path.basename(dir),
      dir,
      kernel: path.join(dir, IMAGE_FILES.kernel),
      initrd: path.join(dir, IMAGE_FILES.initrd),
      rootfs: path.join(dir, IMAGE_FILES.rootfs),
      manifest,
    };
    for (const f of [img.kernel, img.initrd, img.rootfs]) await fsp.access(f);
    return img;
  } catch (err) {
    if (isErrnoException(err, 'ENOENT')) return undefined;
    throw err;
  }
}

function checkArch(img: GuestImage, arch: Arch): GuestImage {
  if (img.manifest.arch !== arch) {
    throw new BerthError('IMAGE', `image ${img.id} is for ${img.manifest.arch}, the instance is ${arch}`, {
      hint: "give an image built for the instance's architecture",
    });
  }
  return img;
}

/**
 * The newest cached build of the built-in image's current recipe for an arch (builds of one recipe differ by
 * when they fetched their packages: see ensureBuiltImage's refresh), or undefined; builds nothing.
 */
export async function newestBuiltImage(arch: Arch, runtime: GuestRuntime): Promise<GuestImage | undefined> {
  const base = `${CACHE_FILES.builtPrefix}${arch}-${recipeHash(defaultRecipe(arch, runtime))}`;
  const names = (await fsp.readdir(imageCacheDir()).catch(() => [] as string[])).filter(
    (n) => n === base || n.startsWith(`${base}-`),
  );
  let best: GuestImage | undefined;
  for (const n of names) {
    const img = await loadImage(path.join(imageCacheDir(), n));
    if (img && (!best || img.manifest.createdAt > best.manifest.createdAt)) best = img;
  }
  return best;
}

/**
 * Returns the built-in image for an arch, building it once (cached by recipe). `refresh` builds it again from
 * the archive's packages of today (security fixes), beside the older builds: instances move to it with
 * `berth start --upgrade`.
 */
export async function ensureBuiltImage(
  arch: Arch,
  runtime: GuestRuntime,
  progress: ProgressFn,
  opts: { refresh?: boolean } = {},
): Promise<GuestImage> {
  const recipe = defaultRecipe(arch, runtime);
  const cached = opts.refresh ? undefined : await newestBuiltImage(arch, runtime);
  if (cached) return cached;
  const base = `${CACHE_FILES.builtPrefix}${arch}-${recipeHash(recipe)}`;
  const first = !(await newestBuiltImage(arch, runtime));
  // A refresh: the build's UTC time in the name (sortable, unique per minute).
  const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
  const dir = path.join(imageCacheDir(), first ? base : `${base}-${stamp}`);
  const t0 = Date.now();
  progress(
    `building the guest image (Debian ${recipe.suite}, ${arch})${first ? '; this happens once' : ' from the current packages'}`,
  );
  await buildImage(recipe, dir, progress);
  progress(`guest image built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const img = (await loadImage(dir))!;
  await recordUserImageSeal(img);
  return img;
}

function hashingStream(
  hash: ReturnType<typeof createHash>,
  total: number | undefined,
  progress: ProgressFn,
): Transform {
  let seen = 0;
  let lastPct = -10;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      seen += chunk.length;
      if (total) {
        const pct = Math.floor((seen / total) * 100);
        if (pct >= lastPct + 10) {
          lastPct = pct;
          progress(`  ${pct}% of ${(total / 1024 ** 2).toFixed(0)} MiB`);
        }
      }
      cb(null, chunk);
    },
  });
}

/**
 * A prebuilt image archive (tar of vmlinuz, initrd.img, rootfs.qcow2, image.json) from a local path or
 * an http(s) URL. URLs must come with a sha256, which is verified before anything lands in the cache.
 */
export async function ensureImportedImage(
  src: ImageSource,
  arch: Arch,
  progress: ProgressFn,
): Promise<GuestImage> {
  const cacheRoot = imageCacheDir();
  if (src.sha256 !== undefined && !/^[a-f0-9]{64}$/.test(src.sha256))
    throw new BerthError('USAGE', `the image sha256 "${src.sha256}" is not 64 lowercase hex digits`);
  if (src.sha256) {
    const hit = await loadImage(path.join(cacheRoot, `${CACHE_FILES.importedPrefix}${src.sha256}`));
    if (hit) return checkArch(hit, arch);
  }
  await fsp.mkdir(cacheRoot, { recursive: true, mode: 0o700 });
  const work = await fsp.mkdtemp(path.join(cacheRoot, CACHE_FILES.importPrefix));
  try {
    const archive = path.join(work, 'image.tar');
    const hash = createHash('sha256');
    if (src.url) {
      progress(`downloading image ${src.url}`);
      await download(src.url, archive, (total) => hashingStream(hash, total, progress));
    } else {
      const p = path.resolve(src.path!);
      let st: fs.Stats;
      try {
        st = await fsp.stat(p);
      } catch {
        throw new BerthError('IMAGE', `image file ${p} does not exist`, {
          hint: 'check image.path in the instance YAML or --image',
        });
      }
      progress(`importing image ${p}`);
      await pipeline(
        fs.createReadStream(p),
        hashingStream(hash, st.size, progress),
        fs.createWriteStream(archive, { mode: 0o600 }),
      );
    }
    const digest = hash.digest('hex');
    if (src.sha256 && digest !== src.sha256) {
      throw new BerthError('IMAGE', `image digest mismatch: expected sha256 ${src.sha256}, got ${digest}`, {
        hint: 'the download is corrupt or the digest is wrong; nothing was cached',
      });
    }
    const dest = path.join(cacheRoot, `${CACHE_FILES.importedPrefix}${digest}`);
    const hit = await loadImage(dest);
    if (hit) return checkArch(hit, arch);
    const staging = path.join(work, 'image');
    await fsp.mkdir(staging);
    const tar = await import('tar');
    await checkArchive(archive);
    await tar.x({ file: archive, cwd: staging, strict: true });
    await fsp.rm(archive);
    const img = await loadImage(staging);
    if (!img) {
      throw new BerthError(
        'IMAGE',
        'the image archive lacks vmlinuz, initrd.img, rootfs.qcow2 or image.json',
        {
          hint: 'make archives with "berth image pack"',
        },
      );
    }
    checkArch(img, arch);
    await fsp.rename(staging, dest);
    progress(`image cached as ${CACHE_FILES.importedPrefix}${digest.slice(0, 12)}…`);
    const cached = (await loadImage(dest))!;
    await recordUserImageSeal(cached);
    return cached;
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

/** The largest member an image archive may have (a root filesystem is a few GiB at most). */
const MAX_IMAGE_MEMBER = 16 * 1024 ** 3;

/**
 * An image archive holds exactly the image's files, as regular files of bounded size: no links, devices,
 * folders or other members (a link could point an extraction, or a later boot, anywhere).
 */
export async function checkArchive(archive: string): Promise<void> {
  const tar = await import('tar');
  const allowed = new Set<string>(Object.values(IMAGE_FILES));
  const seen = new Set<string>();
  const bad: string[] = [];
  await tar
    .t({
      file: archive,
      strict: true,
      onReadEntry: (e) => {
        const name = e.path.replace(/^\.\//, '');
        if (e.type !== 'File') bad.push(`${e.path}: a ${e.type}, not a regular file`);
        else if (!allowed.has(name)) bad.push(`${e.path}: not an image file (${[...allowed].join(', ')})`);
        else if (seen.has(name)) bad.push(`${e.path}: twice`);
        else if ((e.size ?? 0) > MAX_IMAGE_MEMBER) bad.push(`${e.path}: ${e.size} bytes, over the limit`);
        seen.add(name);
        e.resume();
      },
    })
    .catch((err: unknown) => {
      throw new BerthError('IMAGE', `the image archive cannot be read: ${(err as Error).message}`);
    });
  if (bad.length)
    throw new BerthError('IMAGE', `the image archive has members berth does not accept: ${bad[0]}`, {
      details: bad.slice(1, 10).join('\n') || undefined,
      hint: 'make archives with "berth image pack"',
    });
}

export async function resolveImage(
  src: ImageSource | undefined,
  arch: Arch,
  runtime: GuestRuntime,
  progress: ProgressFn,
): Promise<GuestImage> {
  if (src && (src.path || src.url)) return ensureImportedImage(src, arch, progress);
  return ensureBuiltImage(arch, runtime, progress);
}

/** Packs a cached image into a tar archive that `image.path`/`image.url` accept; returns its sha256. */
export async function packImage(img: GuestImage, out: string): Promise<string> {
  // The archive often goes to a shared folder such as /tmp: a name nobody can guess, made exclusively.
  const tmp = tempFile(out, true);
  await fsp.writeFile(tmp, '', { flag: 'wx', mode: 0o600 });
  try {
    const tar = await import('tar');
    await tar.c({ file: tmp, cwd: img.dir, portable: true }, Object.values(IMAGE_FILES));
    const hash = createHash('sha256');
    await pipeline(fs.createReadStream(tmp), hash);
    await fsp.rename(tmp, out);
    return hash.digest('hex');
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}
