import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CACHE_FILES } from '../store/filenames.js';
import { BerthError } from '../util/errors.js';
import { requireTool, run, which } from '../util/exec.js';
import { shellQuote } from '../util/shell-quote.js';
import { PipelineInterrupted, runPipeline } from './pipeline.js';
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
 * (mkfs.ext4 -d, no mounts) and the qcow2, and hands them out as a tar. The root being built lives in TMPDIR
 * (default /var/tmp: see buildTmpDir) and is removed inside the namespace; the results land in a temp dir next
 * to outDir, renamed into place at the end.
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
  const tmp = await buildTmpDir(process.env, process.getuid?.() === 0, progress);
  await fsp.mkdir(path.dirname(outDir), { recursive: true, mode: 0o700 });
  await removeStaleBuilds(tmp, path.dirname(outDir), mmdebstrap, PATH);
  const work = await fsp.mkdtemp(path.join(path.dirname(outDir), CACHE_FILES.buildPrefix));
  let interrupted: NodeJS.Signals | undefined;
  try {
    // The guest tree, for the hooks: a tar of it owned by 0:0 (whatever the user's ids), unpacked by the
    // tar-in hook into /tmp of the root being built, where the namespace's root can read it whoever owns the
    // cache folder.
    const treeDir = path.join(work, TREE_NAME);
    await fsp.mkdir(treeDir);
    await fsp.chmod(treeDir, 0o755);
    await writeGuestTree(recipe.tree, treeDir);
    const treeTar = path.join(work, `${TREE_NAME}.tar`);
    await run('tar', ['-C', work, '--owner=0', '--group=0', '--numeric-owner', '-cf', treeTar, TREE_NAME]);
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
      // Before the first apt call: which packages come from the newer suite. (mmdebstrap splits a special
      // hook's words as a shell does: host paths are quoted.)
      '--setup-hook=mkdir -p "$1/etc/apt/preferences.d"',
      `--setup-hook=upload ${shellQuote(prefs)} /etc/apt/preferences.d/berth`,
      '--setup-hook=chmod 0644 "$1/etc/apt/preferences.d/berth"',
      `--essential-hook=tar-in ${shellQuote(treeTar)} /tmp`,
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
    const fsTail: string[] = [];
    const tarTail: string[] = [];
    const keep = (into: string[]) => (line: string) => {
      into.push(line);
      if (into.length > 20) into.shift();
    };
    let filesystemStarted = false;
    const [bootstrapped, made, unpacked] = await runPipeline(
      [
        {
          file: mmdebstrap,
          args,
          onLine: (line) => {
            keep(tail)(line);
            if (/^I: /.test(line)) progress(`  ${line.slice(3)}`);
            if (!filesystemStarted && /^I: creating tarball/.test(line)) {
              filesystemStarted = true;
              progress('creating the root filesystem (ext4 → qcow2)');
            }
          },
        },
        {
          file: mmdebstrap,
          args: ['--unshare-helper', 'sh', '-c', String(filesystemSh.data), 'filesystem.sh'],
          onLine: keep(fsTail),
        },
        { file: 'tar', args: ['-x', '--no-same-owner', '-C', staging], onLine: keep(tarTail) },
      ],
      { ...process.env, PATH, TMPDIR: tmp },
    );
    // The filesystem step failed on its own (not stopped because another did): that is the error to show.
    if (made !== 0 && made !== 'SIGTERM' && made !== 'SIGKILL') {
      throw new BerthError('IMAGE', `making the root filesystem from the bootstrap failed (${made})`, {
        details: fsTail.join('\n'),
        hint: `check the free space in ${tmp} (TMPDIR)`,
      });
    }
    if (bootstrapped !== 0) {
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
          // The filesystem step's own words too: its failure ends the pipe mmdebstrap writes into.
          details: [...tail, ...fsTail.map((l) => `filesystem.sh: ${l}`)].join('\n'),
          hint: 'check that the Debian archive is reachable (BERTH_DEBIAN_MIRROR overrides the mirror)',
        },
      );
    }
    if (made !== 0 || unpacked !== 0) {
      throw new BerthError(
        'IMAGE',
        `making the root filesystem from the bootstrap failed (${made}, tar ${unpacked})`,
        {
          details: [...fsTail, ...tarTail.slice(-5)].join('\n'),
          hint: `check the free space in ${tmp} (TMPDIR)`,
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
  } catch (err) {
    if (err instanceof PipelineInterrupted) interrupted = err.signal;
    throw err;
  } finally {
    // The build folder holds only berth's own files (the tree, its tar, the results): mmdebstrap builds in
    // TMPDIR, inside its own mount namespace, so nothing is ever mounted here.
    await fsp.rm(work, { recursive: true, force: true });
    // Stopped by the user (Ctrl-C) or the system: cleaned up, now end as that signal would have.
    if (interrupted) process.kill(process.pid, interrupted);
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

/** The build's scratch space: 1 GiB of root filesystem is there up to three times (tree, tar, ext4). */
const BUILD_TMP_BYTES = 3 * 1024 ** 3;

/**
 * Where mmdebstrap and filesystem.sh put the root being built: $TMPDIR when the user set one that suits, else
 * /var/tmp (on disk everywhere; /tmp is a RAM-backed tmpfs on Debian 13 and others). As a user, root of the
 * build's user namespace (one of the user's subordinate ids) makes its folders there, so it must be a shared
 * folder (mode 1777, as /var/tmp and /tmp are), not one of the user's own. Refused when it lacks the space.
 */
export async function buildTmpDir(
  env: NodeJS.ProcessEnv = process.env,
  asRoot = process.getuid?.() === 0,
  progress: ProgressFn = () => undefined,
): Promise<string> {
  const shared = async (d: string) => ((await fsp.stat(d).catch(() => undefined))?.mode ?? 0) & 0o1002;
  let dir = env.TMPDIR || '/var/tmp';
  if (!asRoot && (await shared(dir)) !== 0o1002 && dir !== '/var/tmp') {
    progress(
      `TMPDIR ${dir} is not a shared folder (mode 1777) the build's user namespace can use: building in /var/tmp`,
    );
    dir = '/var/tmp';
  }
  const st = await fsp.statfs(dir).catch(() => undefined);
  if (!st || (!asRoot && (await shared(dir)) !== 0o1002)) {
    throw new BerthError(
      'IMAGE',
      `the build's scratch folder ${dir} is missing or not a shared folder (mode 1777)`,
      {
        hint: 'set TMPDIR to a folder of mode 1777 with 3 GiB free',
      },
    );
  }
  const free = st.bavail * st.bsize;
  if (free < BUILD_TMP_BYTES) {
    throw new BerthError(
      'IMAGE',
      `building the guest image needs 3 GiB of scratch space in ${dir}; it has ${(free / 1024 ** 3).toFixed(1)} GiB free`,
      { hint: 'free some space there, or set TMPDIR to a folder of mode 1777 with 3 GiB free' },
    );
  }
  return dir;
}

/** A leftover of a build killed outright is removed once it is this old (a build running now never is). */
const STALE_MS = 6 * 3600 * 1000;

/**
 * Removes what an earlier build of this user left when it was killed outright (SIGKILL, power loss): in the
 * scratch folder, mmdebstrap's root (mmdebstrap.*) and filesystem.sh's folder (berth-fs.*), owned by root of
 * the build's user namespace (the user's first subordinate id; root for root), which a user can remove only
 * from inside that namespace, and mmdebstrap's keyring folder (its own); in the cache, berth's build folders.
 * Only folders untouched for 6 hours.
 */
async function removeStaleBuilds(
  tmp: string,
  cache: string,
  mmdebstrap: string,
  PATH: string,
): Promise<void> {
  const uid = process.getuid?.() ?? 0;
  const nsRoot =
    uid === 0
      ? 0
      : subordinateRange(await fsp.readFile('/etc/subuid', 'utf8').catch(() => ''), os.userInfo().username)
          ?.first;
  const old = async (dir: string, pattern: RegExp) => {
    const out: { path: string; uid: number }[] = [];
    for (const name of await fsp.readdir(dir).catch(() => [] as string[])) {
      if (!pattern.test(name)) continue;
      const st = await fsp.lstat(path.join(dir, name)).catch(() => undefined);
      if (st?.isDirectory() && Date.now() - st.mtimeMs > STALE_MS)
        out.push({ path: path.join(dir, name), uid: st.uid });
    }
    return out;
  };
  const found = [
    ...(await old(tmp, /^(mmdebstrap|berth-fs)\.[A-Za-z0-9_.]+$/)),
    ...(await old(cache, new RegExp(`^\\${CACHE_FILES.buildPrefix}`))),
  ];
  const own = found.filter((f) => f.uid === uid).map((f) => f.path);
  for (const p of own) await fsp.rm(p, { recursive: true, force: true }).catch(() => undefined);
  const ns = found.filter((f) => f.uid !== uid && f.uid === nsRoot).map((f) => f.path);
  if (ns.length > 0) {
    // best effort: a leftover only costs space
    await run(mmdebstrap, ['--unshare-helper', 'rm', '-rf', '--', ...ns], {
      env: { ...process.env, PATH },
    }).catch(() => undefined);
  }
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
    if (subordinateRange(text, user) === undefined) {
      throw new BerthError(
        'PERMISSION',
        `${user} has no range of 65536 subordinate ids in ${file} (on the first line with that name): building the guest image without root maps the image's owners to them`,
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
  // Ubuntu 23.10 and later: a user namespace gets no capabilities unless an AppArmor profile allows it.
  const aa = await fsp
    .readFile('/proc/sys/kernel/apparmor_restrict_unprivileged_userns', 'utf8')
    .catch(() => '0');
  if (aa.trim() === '1') {
    throw new BerthError(
      'PERMISSION',
      "this host's AppArmor keeps unprivileged user namespaces without capabilities",
      {
        hint: 'ask an admin for an AppArmor profile that allows userns for mmdebstrap, or: sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0',
      },
    );
  }
}

/**
 * A user's subordinate id range in /etc/subuid or /etc/subgid ("name:first:count" lines), read as mmdebstrap
 * reads it: the first line with the user's name (not its uid), which must hold the 65536 ids an image needs.
 */
export function subordinateRange(text: string, user: string): { first: number; count: number } | undefined {
  for (const line of text.split('\n')) {
    const [who, first, count] = line.trim().split(':');
    if (who !== user) continue;
    const f = Number(first);
    const c = Number(count);
    return Number.isInteger(f) && Number.isInteger(c) && c >= 65536 ? { first: f, count: c } : undefined;
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
