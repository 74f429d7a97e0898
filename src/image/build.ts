import { spawn, type ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { CACHE_FILES } from '../store/filenames.js';
import { BerthError } from '../util/errors.js';
import { requireTool, run, which } from '../util/exec.js';
import { lineSplitter } from '../util/lines.js';
import { writeGuestTree } from '../guest/guest-tree.js';
import { debianArch, type ImageRecipe } from './recipe.js';
import { ensureHostBinfmt } from './host-binfmt.js';
import { extractPvhKernel } from './kernel.js';
import { IMAGE_FILES, type ImageManifest, type ProgressFn } from './image.js';

/**
 * Builds a guest image from Debian packages into `outDir` (which must not exist yet), as root or as an ordinary
 * user, the same way: mmdebstrap in its unshare mode writes the root filesystem as a tarball (owners, modes,
 * set-id bits, xattrs and device nodes as data, whoever runs it), and build/filesystem.sh, inside the user
 * namespace that mmdebstrap gives the user's subordinate ids (`--unshare-helper`), extracts it, makes the ext4
 * (mkfs.ext4 -d, no mounts) and the qcow2, and hands them out as a tar. Nothing owned by a subordinate id is
 * left on disk, and everything lands in a temp dir next to outDir, renamed into place at the end.
 */
export async function buildImage(recipe: ImageRecipe, outDir: string, progress: ProgressFn): Promise<void> {
  // mkfs.ext4 and debugfs live in /usr/sbin, which an ordinary user's PATH often lacks.
  const PATH = withSbin(process.env.PATH ?? '');
  const mmdebstrap = await requireTool('mmdebstrap', PATH);
  for (const tool of ['mkfs.ext4', 'debugfs', 'qemu-img', 'tar']) await requireTool(tool, PATH);
  if (recipe.pvhKernel) await requireTool('xz', PATH);
  const filesystemSh = recipe.tree.find((f) => f.path === 'build/filesystem.sh');
  if (!recipe.tree.some((f) => f.path === 'build/customize.sh') || !filesystemSh)
    throw new BerthError('INTERNAL', 'the image recipe has no build/customize.sh or build/filesystem.sh');
  if (process.getuid?.() !== 0) await checkUnprivilegedBuild(PATH);

  await ensureHostBinfmt(recipe.arch, progress);
  await fsp.mkdir(path.dirname(outDir), { recursive: true, mode: 0o700 });
  const work = await fsp.mkdtemp(path.join(path.dirname(outDir), CACHE_FILES.buildPrefix));
  try {
    // The guest tree, for the hooks: copied into the root being built (copy-in), where the namespace's root
    // can read it whoever owns the cache. customize.sh installs its rootfs/ with the tree's modes, root-owned.
    const treeDir = path.join(work, TREE_NAME);
    await fsp.mkdir(treeDir);
    await fsp.chmod(treeDir, 0o755);
    await writeGuestTree(recipe.tree, treeDir);
    const inRoot = `"$1/tmp/${TREE_NAME}"`;
    const hook = (name: string) => recipe.tree.some((f) => f.path === `build/${name}`);
    const prefs = path.join(work, 'apt-preferences');
    await fsp.writeFile(prefs, recipe.aptPreferences, { mode: 0o644 });
    const args = [
      '--mode=unshare',
      '--variant=minbase',
      `--architectures=${debianArch(recipe.arch)}`,
      `--include=${recipe.packages.join(',')}`,
      '--aptopt=APT::Install-Recommends "false"',
      // "!path" re-includes a path an earlier pattern excluded (dpkg path-include).
      ...recipe.dpkgExcludes.map((p) =>
        p.startsWith('!') ? `--dpkgopt=path-include=${p.slice(1)}` : `--dpkgopt=path-exclude=${p}`,
      ),
      // Before the first apt call: which packages come from the newer suite.
      '--setup-hook=mkdir -p "$1/etc/apt/preferences.d"',
      `--setup-hook=upload ${prefs} /etc/apt/preferences.d/berth`,
      '--setup-hook=chmod 0644 "$1/etc/apt/preferences.d/berth"',
      `--essential-hook=copy-in ${treeDir} /tmp`,
      ...(hook('essential.sh') ? [`--essential-hook=sh ${inRoot}/build/essential.sh "$1" ${inRoot}`] : []),
      `--customize-hook=sh ${inRoot}/build/customize.sh "$1" ${inRoot}`,
      `--customize-hook=rm -rf ${inRoot}`,
      recipe.suite,
      '-', // the tarball, on stdout
      ...recipe.sources,
    ];
    const staging = path.join(work, 'image');
    await fsp.mkdir(staging);
    progress(`bootstrapping Debian ${recipe.suite} (${debianArch(recipe.arch)}) with mmdebstrap`);
    const tail: string[] = [];
    const bootstrap = spawnStage(mmdebstrap, args, 'ignore', PATH, (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      if (/^I: /.test(line)) progress(`  ${line.slice(3)}`);
    });
    const fsTail: string[] = [];
    const filesystem = spawnStage(
      mmdebstrap,
      ['--unshare-helper', 'sh', '-c', String(filesystemSh.data), 'filesystem.sh'],
      bootstrap.child.stdout!,
      PATH,
      (line) => {
        fsTail.push(line);
        if (fsTail.length > 20) fsTail.shift();
      },
    );
    const tarTail: string[] = [];
    const unpack = spawnStage(
      'tar',
      ['-x', '--no-same-owner', '-C', staging],
      filesystem.child.stdout!,
      PATH,
      (line) => tarTail.push(line),
      'ignore',
    );
    const bootstrapped = await bootstrap.done;
    if (bootstrapped !== 0) {
      filesystem.child.kill();
      unpack.child.kill();
      await Promise.allSettled([filesystem.done, unpack.done]);
      const missing = tail.map((l) => /^E: install (\S+)/.exec(l)?.[1]).find(Boolean);
      if (missing) {
        throw new BerthError(
          'MISSING_DEPENDENCY',
          `mmdebstrap needs ${missing} to build a ${recipe.arch} image`,
          {
            hint: `install it: apt-get install ${missing}`,
          },
        );
      }
      throw new BerthError(
        'IMAGE',
        `mmdebstrap failed to build the guest root filesystem (${bootstrapped})`,
        {
          details: tail.join('\n'),
          hint: 'check that the Debian archive is reachable (BERTH_DEBIAN_MIRROR overrides the mirror)',
        },
      );
    }
    progress('creating the root filesystem (ext4 → qcow2)');
    const [made, unpacked] = [await filesystem.done, await unpack.done];
    if (made !== 0 || unpacked !== 0) {
      throw new BerthError(
        'IMAGE',
        `making the root filesystem from the bootstrap failed (${made}, tar ${unpacked})`,
        {
          details: [...fsTail, ...tarTail.slice(-5)].join('\n'),
        },
      );
    }

    const boot = await fsp.readdir(path.join(staging, 'boot'));
    const vmlinuz = boot.find((f) => f.startsWith('vmlinuz-'));
    // berth's own initrd (customize.sh) when the recipe makes one, else the kernel package's.
    const initrd =
      boot.find((f) => f === 'berth-initrd.img') ?? boot.find((f) => f.startsWith('initrd.img-'));
    if (!vmlinuz || !initrd)
      throw new BerthError('IMAGE', `no kernel/initrd in the built root's /boot (found: ${boot.join(', ')})`);
    const kernel = path.join(staging, IMAGE_FILES.kernel);
    const bootFile = (f: string) => path.join(staging, 'boot', f);
    if (!recipe.pvhKernel || !(await extractPvhKernel(bootFile(vmlinuz), kernel))) {
      await fsp.copyFile(bootFile(vmlinuz), kernel);
    }
    await fsp.rename(bootFile(initrd), path.join(staging, IMAGE_FILES.initrd));
    const packages = await fsp.readFile(path.join(staging, 'packages'), 'utf8').catch(() => '');
    await fsp.rm(path.join(staging, 'boot'), { recursive: true, force: true });
    await fsp.rm(path.join(staging, 'packages'), { force: true });

    const manifest: ImageManifest = {
      format: 1,
      arch: recipe.arch,
      source: `built:${path.basename(outDir)}`,
      kernelVersion: vmlinuz.slice('vmlinuz-'.length),
      createdAt: new Date().toISOString(),
      suite: recipe.suite,
      versions: packageVersions(packages),
    };
    await fsp.writeFile(path.join(staging, IMAGE_FILES.manifest), JSON.stringify(manifest, null, 2) + '\n');
    await fsp.rename(staging, outDir);
  } finally {
    await removeBuildDir(work);
  }
}

/** The guest tree's folder name, in the build dir and in the root being built (/tmp/berth-guest). */
const TREE_NAME = 'berth-guest';

/** PATH with the system folders that hold mkfs.ext4 and debugfs (/usr/sbin) added when missing. */
export function withSbin(pathEnv: string): string {
  const dirs = pathEnv.split(':').filter(Boolean);
  for (const d of ['/usr/sbin', '/sbin']) if (!dirs.includes(d)) dirs.push(d);
  return dirs.join(':');
}

interface Stage {
  child: ChildProcess;
  /** The exit code, or the signal's name. */
  done: Promise<number | string>;
}

/**
 * One program of the build's pipeline: stdin from another stage's stdout (or none), stdout piped on to the next
 * stage (or ignored), stderr by lines. Done when it has exited and its stderr has ended: not on 'close', which
 * never comes for a stage whose stdout was handed to the next program.
 */
function spawnStage(
  file: string,
  args: string[],
  stdin: 'ignore' | Readable,
  PATH: string,
  onLine?: (line: string) => void,
  stdout: 'pipe' | 'ignore' = 'pipe',
): Stage {
  const child = spawn(file, args, {
    stdio: [stdin, stdout, 'pipe'],
    env: { ...process.env, PATH, TMPDIR: os.tmpdir() },
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on(
    'data',
    lineSplitter((line) => onLine?.(line)),
  );
  const stderrEnd = new Promise<void>((resolve) => child.stderr!.on('close', resolve));
  const exited = new Promise<number | string>((resolve) => {
    child.on('error', (err) => resolve(`not started: ${err.message}`));
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  return { child, done: Promise.all([exited, stderrEnd]).then(([code]) => code) };
}

/**
 * What an unprivileged build needs besides mmdebstrap, each missing piece with its fix: newuidmap/newgidmap
 * (Debian's uidmap), subordinate user and group ids for this user, and user namespaces it may create.
 */
export async function checkUnprivilegedBuild(PATH: string): Promise<void> {
  const user = os.userInfo().username;
  if (!(await which('newuidmap', PATH)) || !(await which('newgidmap', PATH))) {
    throw new BerthError(
      'MISSING_DEPENDENCY',
      'building the guest image as an ordinary user needs newuidmap and newgidmap',
      { hint: 'ask an admin to install them once: sudo apt-get install uidmap' },
    );
  }
  for (const [file, flag] of [
    ['/etc/subuid', '--add-subuids'],
    ['/etc/subgid', '--add-subgids'],
  ] as const) {
    const text = await fsp.readFile(file, 'utf8').catch(() => '');
    if (subordinateRange(text, user, os.userInfo().uid) === undefined) {
      throw new BerthError(
        'PERMISSION',
        `${user} has no subordinate ids in ${file}: building the guest image without root maps the image's owners to them`,
        {
          hint: `ask an admin to give ${user} a free range of 65536, e.g.: sudo usermod ${flag} 100000-165535 ${user} (check ${file} for ranges already taken)`,
        },
      );
    }
  }
  const clone = await fsp.readFile('/proc/sys/kernel/unprivileged_userns_clone', 'utf8').catch(() => '1');
  const max = await fsp.readFile('/proc/sys/user/max_user_namespaces', 'utf8').catch(() => '1');
  if (clone.trim() === '0' || max.trim() === '0') {
    throw new BerthError('PERMISSION', 'this host does not let ordinary users create user namespaces', {
      hint: 'ask an admin to allow them: sudo sysctl kernel.unprivileged_userns_clone=1 user.max_user_namespaces=15000',
    });
  }
}

/**
 * The first subordinate id range of a user in /etc/subuid or /etc/subgid ("name-or-uid:first:count" lines), if
 * it holds the 65536 ids an image needs.
 */
export function subordinateRange(
  text: string,
  user: string,
  uid: number,
): { first: number; count: number } | undefined {
  for (const line of text.split('\n')) {
    const [who, first, count] = line.trim().split(':');
    if (who !== user && who !== String(uid)) continue;
    const f = Number(first);
    const c = Number(count);
    if (Number.isInteger(f) && Number.isInteger(c) && c >= 65536) return { first: f, count: c };
  }
  return undefined;
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
