import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CACHE_FILES } from '../store/filenames.js';
import { BerthError } from '../util/errors.js';
import { requireTool, run } from '../util/exec.js';
import { lineSplitter } from '../util/lines.js';
import { writeGuestTree } from '../guest/guest-tree.js';
import { debianArch, type ImageRecipe } from './recipe.js';
import { ensureHostBinfmt } from './host-binfmt.js';
import { extractPvhKernel } from './kernel.js';
import { IMAGE_FILES, type ImageManifest, type ProgressFn } from './image.js';

/**
 * Builds a guest image from Debian packages into `outDir` (which must not exist yet):
 * mmdebstrap → root directory → ext4 (mkfs.ext4 -d, no mounts) → qcow2, plus kernel and initrd.
 * Everything happens in a temp dir next to outDir and is renamed into place at the end.
 */
export async function buildImage(recipe: ImageRecipe, outDir: string, progress: ProgressFn): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new BerthError(
      'PERMISSION',
      'building the guest image needs root (mmdebstrap creates files owned by root)',
      {
        hint: 'run "sudo berth image build" once, or give a prebuilt image: berth start --image PATH|URL --image-sha256 DIGEST',
      },
    );
  }
  const mmdebstrap = await requireTool('mmdebstrap');
  await requireTool('mkfs.ext4');
  await requireTool('qemu-img');
  if (recipe.pvhKernel) await requireTool('xz');

  await ensureHostBinfmt(recipe.arch, progress);
  await fsp.mkdir(path.dirname(outDir), { recursive: true, mode: 0o700 });
  const work = await fsp.mkdtemp(path.join(path.dirname(outDir), CACHE_FILES.buildPrefix));
  try {
    // The guest tree, for the hooks (customize.sh installs its rootfs/ with cp -a: modes as in the tree).
    const treeDir = path.join(work, 'guest');
    await fsp.mkdir(treeDir);
    await fsp.chmod(treeDir, 0o755);
    await writeGuestTree(recipe.tree, treeDir);
    const hook = (name: string) => recipe.tree.some((f) => f.path === `build/${name}`);
    if (!hook('customize.sh')) throw new BerthError('INTERNAL', 'the image recipe has no build/customize.sh');
    const root = path.join(work, 'root');
    const prefs = path.join(work, 'apt-preferences');
    await fsp.writeFile(prefs, recipe.aptPreferences, { mode: 0o644 });
    const args = [
      '--variant=minbase',
      `--architectures=${debianArch(recipe.arch)}`,
      `--include=${recipe.packages.join(',')}`,
      '--aptopt=APT::Install-Recommends "false"',
      // "!path" re-includes a path an earlier pattern excluded (dpkg path-include).
      ...recipe.dpkgExcludes.map((p) =>
        p.startsWith('!') ? `--dpkgopt=path-include=${p.slice(1)}` : `--dpkgopt=path-exclude=${p}`,
      ),
      // Before the first apt call: which packages come from the newer suite.
      `--setup-hook=mkdir -p "$1/etc/apt/preferences.d" && cp ${prefs} "$1/etc/apt/preferences.d/berth"`,
      ...(hook('essential.sh') ? [`--essential-hook=sh ${treeDir}/build/essential.sh "$1" ${treeDir}`] : []),
      `--customize-hook=sh ${treeDir}/build/customize.sh "$1" ${treeDir}`,
      recipe.suite,
      root,
      ...recipe.sources,
    ];
    progress(`bootstrapping Debian ${recipe.suite} (${debianArch(recipe.arch)}) with mmdebstrap`);
    const { execa } = await import('execa');
    const child = execa(mmdebstrap, args, { all: true, env: { TMPDIR: os.tmpdir() } });
    const tail: string[] = [];
    child.all?.setEncoding('utf8');
    child.all?.on(
      'data',
      lineSplitter((line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        if (/^I: /.test(line)) progress(`  ${line.slice(3)}`);
      }),
    );
    try {
      await child;
    } catch (err) {
      const missing = tail.map((l) => /^E: install (\S+)/.exec(l)?.[1]).find(Boolean);
      if (missing) {
        throw new BerthError(
          'MISSING_DEPENDENCY',
          `mmdebstrap needs ${missing} to build a ${recipe.arch} image`,
          {
            hint: `install it: apt-get install ${missing}`,
            cause: err,
          },
        );
      }
      throw new BerthError('IMAGE', 'mmdebstrap failed to build the guest root filesystem', {
        cause: err,
        details: tail.join('\n'),
        hint: 'check that the Debian archive is reachable (BERTH_DEBIAN_MIRROR overrides the mirror)',
      });
    }

    const staging = path.join(work, 'image');
    await fsp.mkdir(staging);
    const boot = await fsp.readdir(path.join(root, 'boot'));
    const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'));
    // berth's own initrd (customize.sh) when the recipe makes one, else the kernel package's.
    const initrd =
      boot.find((f) => f === 'berth-initrd.img') ?? boot.find((f) => f.startsWith('initrd.img-'));
    if (!vmlinuz || !initrd)
      throw new BerthError('IMAGE', `no kernel/initrd in the built root's /boot (found: ${boot.join(', ')})`);
    const kernel = path.join(staging, IMAGE_FILES.kernel);
    if (!recipe.pvhKernel || !(await extractPvhKernel(path.join(root, 'boot', vmlinuz), kernel))) {
      await fsp.copyFile(path.join(root, 'boot', vmlinuz), kernel);
    }
    await fsp.copyFile(path.join(root, 'boot', initrd), path.join(staging, IMAGE_FILES.initrd));

    progress('creating the root filesystem (ext4 → qcow2)');
    const { stdout } = await run('du', ['-sb', root]);
    const used = Number(stdout.split(/\s/)[0]);
    const size = Math.ceil((used * 1.3 + 256 * 1024 ** 2) / 1024 ** 2);
    const raw = path.join(work, 'rootfs.raw');
    await run('mkfs.ext4', [
      '-q',
      '-F',
      '-L',
      'berth-root',
      '-E',
      'root_owner=0:0',
      '-d',
      root,
      raw,
      `${size}M`,
    ]);
    await run('qemu-img', [
      'convert',
      '-f',
      'raw',
      '-O',
      'qcow2',
      raw,
      path.join(staging, IMAGE_FILES.rootfs),
    ]);
    await fsp.rm(raw, { force: true });

    const manifest: ImageManifest = {
      format: 1,
      arch: recipe.arch,
      source: `built:${path.basename(outDir)}`,
      kernelVersion: vmlinuz.slice('vmlinuz-'.length),
      createdAt: new Date().toISOString(),
      suite: recipe.suite,
      versions: packageVersions(
        await fsp.readFile(path.join(root, 'usr/local/lib/berth/packages'), 'utf8').catch(() => ''),
      ),
    };
    await fsp.writeFile(path.join(staging, IMAGE_FILES.manifest), JSON.stringify(manifest, null, 2) + '\n');
    await fsp.rename(staging, outDir);
  } finally {
    await removeBuildDir(work);
  }
}

/**
 * The versions an image's manifest shows (berth status, berth image list), from its package list ("name TAB
 * version" lines): the kernel, the engine's daemons, BuildKit (built into dockerd: the engine's version).
 */
export function packageVersions(list: string): Record<string, string> {
  const pkgs = new Map(list.split('\n').map((l) => l.split('\t') as [string, string]));
  const pick: Record<string, string | undefined> = {
    kernel: [...pkgs.keys()].find((p) => /^linux-image-\d/.test(p))?.replace(/^linux-image-/, ''),
    dockerd: pkgs.get('docker.io'),
    containerd: pkgs.get('containerd'),
    runc: pkgs.get('runc'),
  };
  return Object.fromEntries(Object.entries(pick).filter((e): e is [string, string] => Boolean(e[1])));
}

/**
 * Removes a build directory safely. A bootstrap that was interrupted can leave /proc, /sys or /dev/* mounted
 * inside the root; a recursive delete would then walk into the host's filesystems. Unmount first, and leave
 * the directory alone if anything is still mounted there.
 */
export async function removeBuildDir(work: string): Promise<void> {
  const mountsUnder = async () =>
    (await fsp.readFile('/proc/mounts', 'utf8').catch(() => ''))
      .split('\n')
      .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
      .filter((m): m is string => Boolean(m) && (m === work || m!.startsWith(`${work}/`)))
      .sort((a, b) => b.length - a.length);
  for (const m of await mountsUnder()) {
    await run('umount', ['-l', m]).catch(() => undefined); // checked again below
  }
  if ((await mountsUnder()).length > 0) {
    process.stderr.write(`berth: left ${work} in place: something is still mounted inside it\n`);
    return;
  }
  await fsp.rm(work, { recursive: true, force: true });
}
