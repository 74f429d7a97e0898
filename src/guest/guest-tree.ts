import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GUEST_CONF_PATH, renderGuestConf, type GuestConfRuntime } from './guest-config.js';

/**
 * The guest tree: guest/ at the repository root, found from this file (two levels below the root both as
 * src/guest/ under tsx or vitest and as dist/guest/ after tsc).
 */
export const GUEST_DIR = fileURLToPath(new URL('../../guest/', import.meta.url));

/** What goes into the image: the root's files, berth's initrd, mmdebstrap's hooks (not the tests, not the docs). */
const IMAGE_PARTS = ['rootfs', 'initrd', 'build'];

/**
 * A container runtime's part of the image: its Debian packages, its overlay (guest/runtimes/<overlay>/rootfs:
 * the engine's configs and engine.pl, which gives berth-init the engine's units) and its guest.conf values.
 */
export interface GuestRuntime extends GuestConfRuntime {
  overlay: string;
  packages: readonly string[];
  /**
   * Packages taken from a newer Debian suite than the image's base (apt-pinned; everything else stays on the
   * base suite and its security updates): the engine moves faster than a stable release.
   */
  newer?: { suite: string; packages: readonly string[] };
  /** Where the engine keeps its state in the guest (images, containers, volumes): the disk `status` reports. */
  dataDir: string;
}

export interface GuestFile {
  /** Relative to the tree, with "/" (e.g. "rootfs/etc/fstab"). */
  path: string;
  /** 0o755 or 0o644: the executable bit is what git keeps, so the umask of a checkout changes nothing. */
  mode: number;
  data: Buffer | string;
}

function walk(dir: string, rel: string, out: GuestFile[]): void {
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    // An editor's or a file manager's leftovers (.swp, .DS_Store, backup~) are not part of the image.
    if (e.name.startsWith('.') || e.name.endsWith('~')) continue;
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    const full = path.join(dir, r);
    if (e.isDirectory()) walk(dir, r, out);
    else if (e.isFile())
      out.push({
        path: r,
        mode: fs.statSync(full).mode & 0o111 ? 0o755 : 0o644,
        data: fs.readFileSync(full),
      });
    else
      throw new Error(`guest tree: ${full} is neither a file nor a folder (links are made by customize.sh)`);
  }
}

/**
 * The files of the image's part of the tree, the runtime's overlay merged into rootfs/, plus the generated
 * guest.conf (see guest-config.ts), sorted by path. The image recipe hashes them; the image build writes them
 * out for mmdebstrap's hooks.
 */
export function readGuestTree(runtime: GuestRuntime, dir = GUEST_DIR): GuestFile[] {
  const files: GuestFile[] = [];
  for (const part of IMAGE_PARTS) walk(dir, part, files);
  const overlay: GuestFile[] = [];
  walk(dir, `runtimes/${runtime.overlay}/rootfs`, overlay);
  const prefix = `runtimes/${runtime.overlay}/`;
  for (const f of overlay) {
    const p = f.path.slice(prefix.length);
    if (files.some((x) => x.path === p)) throw new Error(`guest tree: ${f.path} would replace ${p}`);
    files.push({ ...f, path: p });
  }
  const conf = `rootfs/${GUEST_CONF_PATH}`;
  if (files.some((f) => f.path === conf))
    throw new Error(`guest tree: ${conf} is generated; remove it from ${dir}`);
  files.push({ path: conf, mode: 0o644, data: Buffer.from(renderGuestConf(runtime)) });
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Writes files under `dir` (which exists) with their modes; every folder made is 0755. */
export async function writeGuestTree(files: GuestFile[], dir: string): Promise<void> {
  for (const f of files) {
    const target = path.join(dir, ...f.path.split('/'));
    await mkdirs(dir, path.dirname(target));
    await fsp.writeFile(target, f.data);
    await fsp.chmod(target, f.mode); // not subject to the umask
  }
}

async function mkdirs(base: string, d: string): Promise<void> {
  if (d === base || fs.existsSync(d)) return;
  await mkdirs(base, path.dirname(d));
  await fsp.mkdir(d);
  await fsp.chmod(d, 0o755);
}
