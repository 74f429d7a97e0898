/**
 * The docker CLI's plugins (compose v2, buildx) and, when the host has none, the docker CLI itself, installed
 * on the host from Debian's packages of the suite the guest's engine comes from (docker-runtime.ts), the way
 * Docker Desktop bundles them.
 *
 * The host's own apt downloads the .debs with a throwaway state of its own (sources, lists, cache under
 * ~/.cache/berth/host-cli/): the host's apt configuration and dpkg database are never touched, and nothing
 * runs as root. Plugins go to Docker's per-user plugin dir (${DOCKER_CONFIG:-~/.docker}/cli-plugins); a
 * plugin the user already has is only replaced when it is older, and a record of what berth wrote (path,
 * version, sha256) lets `berth cli uninstall` remove exactly those files and nothing the user changed since.
 */
import { createHash } from 'node:crypto';
import { sha256File } from '../../util/hash.js';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { acquireLock, writeFileAtomic } from '../../store/instance-store.js';
import { imageCacheDir } from '../../store/paths.js';
import { BerthError, isErrnoException } from '../../util/errors.js';
import { run, which } from '../../util/exec.js';

/** The Debian suite the packages come from: the guest engine's (docker-runtime.ts, `newer.suite`). */
export const HOST_CLI_SUITE = 'forky';

export type HostCliName = 'docker-compose' | 'docker-buildx' | 'docker';

export interface HostCliPackage {
  /** The installed file's name (a plugin's is docker-<plugin>). */
  readonly name: HostCliName;
  /** Debian package. */
  readonly pkg: string;
  /** The binary inside the .deb (as `dpkg-deb -c` lists it, without the leading ./). */
  readonly debPath: string;
  /** A CLI plugin (~/.docker/cli-plugins) or the docker CLI (a bin dir). */
  readonly kind: 'plugin' | 'cli';
}

export const HOST_CLI_PACKAGES: readonly HostCliPackage[] = [
  {
    name: 'docker-compose',
    pkg: 'docker-compose',
    debPath: 'usr/libexec/docker/cli-plugins/docker-compose',
    kind: 'plugin',
  },
  {
    name: 'docker-buildx',
    pkg: 'docker-buildx',
    debPath: 'usr/libexec/docker/cli-plugins/docker-buildx',
    kind: 'plugin',
  },
  { name: 'docker', pkg: 'docker-cli', debPath: 'usr/bin/docker', kind: 'cli' },
];

const PLUGINS = HOST_CLI_PACKAGES.filter((p) => p.kind === 'plugin');
const CLI = HOST_CLI_PACKAGES.find((p) => p.kind === 'cli')!;

/**
 * Where the docker CLI looks for plugins after the user's own dir and config.json's cliPluginsExtraDirs, in
 * its order (docker/cli cli-plugins/manager, Linux).
 */
export const SYSTEM_PLUGIN_DIRS: readonly string[] = [
  '/usr/local/lib/docker/cli-plugins',
  '/usr/local/libexec/docker/cli-plugins',
  '/usr/lib/docker/cli-plugins',
  '/usr/libexec/docker/cli-plugins',
];

export type Progress = (msg: string) => void;

// ---------------------------------------------------------------------------------------------------------
// Paths

export function dockerConfigDir(): string {
  return path.resolve(process.env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker'));
}

/** Docker's per-user plugin dir: the first the docker CLI looks in, and where berth installs plugins. */
export function userPluginDir(): string {
  return path.join(dockerConfigDir(), 'cli-plugins');
}

/** berth's files for this: the record, backups of replaced plugins, the throwaway apt state. */
export function hostCliDir(): string {
  return path.join(path.dirname(imageCacheDir()), 'host-cli');
}

export function defaultBinDir(): string {
  return path.join(os.homedir(), '.local', 'bin');
}

function recordFile(): string {
  return path.join(hostCliDir(), 'installed.json');
}

/** config.json's cliPluginsExtraDirs (searched after the user's dir, before the system dirs). */
async function extraPluginDirs(): Promise<string[]> {
  try {
    const cfg = JSON.parse(await fsp.readFile(path.join(dockerConfigDir(), 'config.json'), 'utf8')) as {
      cliPluginsExtraDirs?: unknown;
    };
    return Array.isArray(cfg.cliPluginsExtraDirs)
      ? cfg.cliPluginsExtraDirs.filter((d): d is string => typeof d === 'string')
      : [];
  } catch {
    return [];
  }
}

/** The dirs after the user's, in the docker CLI's order. */
async function otherPluginDirs(systemDirs?: readonly string[]): Promise<string[]> {
  return [...(await extraPluginDirs()), ...(systemDirs ?? SYSTEM_PLUGIN_DIRS)];
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const st = await fsp.stat(file);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * Which of compose and buildx the docker CLI would not find (e.g. ["docker-compose"]). Only stats files (no
 * exec, no network): cheap enough for every `berth start`.
 */
export async function hostCliMissing(opts: { systemDirs?: readonly string[] } = {}): Promise<string[]> {
  const dirs = [userPluginDir(), ...(await otherPluginDirs(opts.systemDirs))];
  const found = await Promise.all(
    PLUGINS.map(async (p) => {
      const hits = await Promise.all(dirs.map((d) => isExecutableFile(path.join(d, p.name))));
      return hits.some(Boolean);
    }),
  );
  return PLUGINS.filter((_, i) => !found[i]).map((p) => p.name);
}

// ---------------------------------------------------------------------------------------------------------
// Versions

/**
 * "v2.40.3", "2.40.3-3", "0.29.1+ds1", "2.40.3-desktop.1" → [2, 40, 3]; undefined when there is no leading
 * dotted number ("dev", "", "2.x").
 */
export function parseVersion(v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  const m = /^v?(\d+(?:\.\d+)*)(?:[-+~_].*)?$/.exec(v.trim());
  return m ? m[1]!.split('.').map(Number) : undefined;
}

/** Numeric, dot by dot; a missing part counts as 0 (2.40 = 2.40.0). */
export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** A parsed version as text; an unparsable one as given. */
export function showVersion(v: string | undefined): string {
  const p = parseVersion(v);
  return p ? p.join('.') : (v ?? 'unknown');
}

/** A Debian package version's upstream part: "1:2.40.3+ds1-1" → "2.40.3"; undefined when not numeric. */
export function debUpstreamVersion(debVersion: string): string | undefined {
  return parseVersion(debVersion.replace(/^\d+:/, ''))?.join('.');
}

/** A plugin's `Version` from `<file> docker-cli-plugin-metadata`; undefined when it does not say. */
export async function pluginVersion(file: string): Promise<string | undefined> {
  const { execa } = await import('execa');
  const r = await execa(file, ['docker-cli-plugin-metadata'], {
    reject: false,
    timeout: 15_000,
    env: { DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND: undefined },
  });
  if (r.exitCode !== 0) return undefined;
  try {
    const meta = JSON.parse(String(r.stdout)) as { Version?: unknown };
    return typeof meta.Version === 'string' ? meta.Version : undefined;
  } catch {
    return undefined;
  }
}

/** The docker CLI's version ("Docker version 28.5.2+dfsg4, build 9cc6dea" → "28.5.2+dfsg4"). */
export async function dockerCliVersion(file: string): Promise<string | undefined> {
  const { execa } = await import('execa');
  const r = await execa(file, ['--version'], { reject: false, timeout: 15_000 });
  if (r.exitCode !== 0) return undefined;
  return /version\s+([^\s,]+)/i.exec(String(r.stdout))?.[1];
}

function installedVersion(pkg: HostCliPackage, file: string): Promise<string | undefined> {
  return pkg.kind === 'plugin' ? pluginVersion(file) : dockerCliVersion(file);
}

// ---------------------------------------------------------------------------------------------------------
// The install decision (pure)

/** A copy already on the host. */
export interface FoundTool {
  path: string;
  /** As the tool reports it ("v2.40.3", "0.29.1+ds1"); undefined when it would not say. */
  version: string | undefined;
  /** berth installed it (the record has this path) and it is unchanged since (same sha256). */
  berth?: boolean;
  sha256?: string;
}

export type InstallAction =
  /** nothing there: install */
  | 'install'
  /** berth's own older copy (or the same version, rebuilt): replace */
  | 'upgrade'
  /** the user's older copy: replace, keeping theirs to restore on uninstall */
  | 'replace'
  /** berth's copy of this very build is there */
  | 'current'
  /** the user's copy is newer, the same version, or of a version berth cannot compare: leave it */
  | 'keep'
  /** one found later in the search order (a system-wide plugin, a docker on PATH) is as new: not needed */
  | 'skip';

export interface InstallDecision {
  action: InstallAction;
  /** Why, for messages: "newer than 0.29.1". */
  reason: string;
}

/**
 * What to do with one tool. `target`: the copy at the path berth would write (the user's plugin dir, the bin
 * dir); `elsewhere`: the one the docker CLI (or PATH) finds when `target` is absent. Never replaces a newer or
 * equal copy of the user's, nor one whose version does not parse.
 */
export function decideInstall(
  ours: { version: string; sha256?: string },
  target: FoundTool | undefined,
  elsewhere?: FoundTool,
): InstallDecision {
  const ov = parseVersion(ours.version);
  if (!ov) throw new BerthError('INTERNAL', `cannot parse berth's own version "${ours.version}"`);
  const show = ov.join('.');
  if (target) {
    const tv = parseVersion(target.version);
    if (!tv)
      return {
        action: 'keep',
        reason:
          target.version === undefined
            ? 'it does not report a version'
            : `its version "${target.version}" is not one berth can compare`,
      };
    const cmp = compareVersions(ov, tv);
    if (target.berth) {
      if (cmp < 0) return { action: 'keep', reason: `newer than ${show}` };
      if (cmp === 0 && (ours.sha256 === undefined || ours.sha256 === target.sha256))
        return { action: 'current', reason: 'already installed by berth' };
      return { action: 'upgrade', reason: cmp === 0 ? 'a new build of the same version' : `older` };
    }
    if (cmp > 0) return { action: 'replace', reason: `older than ${show}` };
    return { action: 'keep', reason: cmp === 0 ? `same version as berth's` : `newer than ${show}` };
  }
  if (elsewhere) {
    const ev = parseVersion(elsewhere.version);
    if (!ev)
      return {
        action: 'skip',
        reason: `${elsewhere.path} is there and its version ${elsewhere.version === undefined ? 'is unknown' : `"${elsewhere.version}" does not compare`}`,
      };
    const cmp = compareVersions(ov, ev);
    if (cmp <= 0)
      return {
        action: 'skip',
        reason: `${elsewhere.path} is ${ev.join('.')}, ${cmp === 0 ? 'the same as' : 'newer than'} berth's ${show}`,
      };
    return { action: 'install', reason: `newer than the ${ev.join('.')} at ${elsewhere.path}` };
  }
  return { action: 'install', reason: 'missing' };
}

// ---------------------------------------------------------------------------------------------------------
// The record of what berth installed

const RecordEntry = z.object({
  name: z.string(),
  path: z.string(),
  version: z.string(),
  debVersion: z.string(),
  sha256: z.string(),
  installedAt: z.string(),
  /** The user's copy berth replaced (moved here), put back by uninstall. */
  backup: z.string().optional(),
});
const Record = z.object({ version: z.literal(1), files: z.array(RecordEntry) });
export type HostCliRecordEntry = z.infer<typeof RecordEntry>;

export async function readRecord(): Promise<HostCliRecordEntry[]> {
  let text: string;
  try {
    text = await fsp.readFile(recordFile(), 'utf8');
  } catch (err) {
    if (isErrnoException(err, 'ENOENT')) return [];
    throw err;
  }
  try {
    return Record.parse(JSON.parse(text)).files;
  } catch (err) {
    throw new BerthError('BAD_CONFIG', `${recordFile()}: not a record berth can read`, {
      cause: err,
      hint: 'berth writes this file; remove it (berth then forgets what it installed)',
    });
  }
}

async function writeRecord(files: HostCliRecordEntry[]): Promise<void> {
  await fsp.mkdir(hostCliDir(), { recursive: true, mode: 0o755 });
  await writeFileAtomic(recordFile(), JSON.stringify({ version: 1, files }, null, 2) + '\n', 0o644);
}

export { sha256File };

async function sha256OrUndefined(file: string): Promise<string | undefined> {
  try {
    return await sha256File(file);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Placing files

/**
 * Copies `src` (a file, or a symlink as a symlink) to `dest` through a dot-named temp file in dest's dir
 * (which the docker CLI's plugin scan skips), then renames it over: nobody sees half a binary.
 */
async function copyInto(src: string, dest: string, mode?: number): Promise<void> {
  const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.berth-${process.pid}-${Date.now()}`);
  try {
    const st = await fsp.lstat(src);
    if (st.isSymbolicLink()) await fsp.symlink(await fsp.readlink(src), tmp);
    else {
      await fsp.copyFile(src, tmp);
      await fsp.chmod(tmp, mode ?? st.mode & 0o7777);
    }
    await fsp.rename(tmp, dest);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

function permissionError(dir: string, err: unknown): BerthError {
  return new BerthError('PERMISSION', `cannot write to ${dir}`, {
    cause: err,
    hint: dir.startsWith(os.homedir())
      ? `check the permissions of ${dir}`
      : `choose a dir you own (--bin-dir ~/.local/bin), or run this command with the rights to write there`,
  });
}

/** A package's binary, unpacked from its .deb. */
export interface StagedTool {
  pkg: HostCliPackage;
  /** The .deb's Version field ("2.40.3-3"). */
  debVersion: string;
  /** The unpacked binary. */
  file: string;
}

export interface HostCliResult {
  name: HostCliName;
  package: string;
  action: InstallAction;
  /** berth's (upstream) version. */
  version: string;
  debVersion: string;
  /** Where berth put it, or would have. */
  path: string;
  /** The copy that was there (or elsewhere, for `skip`). */
  existing?: { path: string; version?: string };
  /** Where the user's replaced copy now is. */
  backup?: string;
  message: string;
}

export interface PlaceOptions {
  /** Also consider the docker CLI (when staged). */
  dockerCli?: boolean;
  /** Where the docker CLI goes (default ~/.local/bin). */
  binDir?: string;
  progress?: Progress;
  /** The system-wide plugin dirs to consult (default SYSTEM_PLUGIN_DIRS; tests point elsewhere). */
  systemDirs?: readonly string[];
}

async function found(
  pkg: HostCliPackage,
  file: string,
  record: HostCliRecordEntry[],
): Promise<FoundTool | undefined> {
  if (!(await isExecutableFile(file))) {
    // A file that is there but not runnable is still the user's: keep it (version unknown).
    try {
      await fsp.lstat(file);
      return { path: file, version: undefined };
    } catch {
      return undefined;
    }
  }
  const entry = record.find((e) => e.path === file);
  const sha256 = entry ? await sha256OrUndefined(file) : undefined;
  return {
    path: file,
    version: await installedVersion(pkg, file),
    berth: entry !== undefined && sha256 === entry.sha256,
    sha256,
  };
}

async function firstFound(
  pkg: HostCliPackage,
  dirs: readonly string[],
  record: HostCliRecordEntry[],
): Promise<FoundTool | undefined> {
  for (const d of dirs) {
    const f = await found(pkg, path.join(d, pkg.name), record);
    if (f) return f;
  }
  return undefined;
}

function onPath(dir: string): boolean {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .some((d) => path.resolve(d) === path.resolve(dir));
}

/**
 * Installs the staged binaries where they are needed (see decideInstall), updates the record, and reports
 * each outcome through `progress`. The network half is in installHostCli; this half is what tests drive.
 */
export async function placeHostCli(staged: StagedTool[], opts: PlaceOptions = {}): Promise<HostCliResult[]> {
  const progress = opts.progress ?? (() => {});
  let record = await readRecord();
  const results: HostCliResult[] = [];
  const others = await otherPluginDirs(opts.systemDirs);

  for (const s of staged) {
    const { pkg } = s;
    if (pkg.kind === 'cli' && !opts.dockerCli) continue;
    const version = debUpstreamVersion(s.debVersion);
    if (!version) throw new BerthError('INTERNAL', `${pkg.pkg}: cannot parse its version "${s.debVersion}"`);
    const dir = pkg.kind === 'plugin' ? userPluginDir() : path.resolve(opts.binDir ?? defaultBinDir());
    const dest = path.join(dir, pkg.name);
    const target = await found(pkg, dest, record);
    let elsewhere: FoundTool | undefined;
    if (!target) {
      if (pkg.kind === 'plugin') elsewhere = await firstFound(pkg, others, record);
      else {
        const w = await which(pkg.name);
        if (w && path.resolve(w) !== dest) elsewhere = await found(pkg, w, record);
      }
    }
    const ourSha = await sha256File(s.file);
    const d = decideInstall({ version, sha256: ourSha }, target, elsewhere);
    const base = {
      name: pkg.name,
      package: pkg.pkg,
      action: d.action,
      version,
      debVersion: s.debVersion,
      path: dest,
    };
    const existing = target ?? elsewhere;
    const theirs = existing && { path: existing.path, version: existing.version };

    if (d.action === 'keep' || d.action === 'skip' || d.action === 'current') {
      const message =
        d.action === 'current'
          ? `${pkg.name} ${version} is already installed at ${dest}`
          : d.action === 'skip'
            ? `skipped ${pkg.name} ${version}: ${d.reason}`
            : `kept ${target!.berth ? "berth's" : 'your'} ${pkg.name}${parseVersion(target!.version) ? ` ${showVersion(target!.version)}` : ''} at ${dest} (${d.reason})`;
      progress(message);
      results.push({ ...base, existing: theirs, message });
      continue;
    }

    // berth's build must run here before it replaces anything (a host whose libc is older than the package's).
    if (!(await installedVersion(pkg, s.file)))
      throw new BerthError(
        'MISSING_DEPENDENCY',
        `Debian ${HOST_CLI_SUITE}'s ${pkg.pkg} does not run on this host`,
        {
          hint: `its .deb depends on a newer libc than this host has; install ${pkg.name} from your distribution or docker.com`,
        },
      );

    try {
      // 0755 whatever the umask, but only a dir berth creates: an existing one keeps the user's mode.
      if (await fsp.mkdir(dir, { recursive: true, mode: 0o755 })) await fsp.chmod(dir, 0o755);
    } catch (err) {
      if (isErrnoException(err, 'EACCES') || isErrnoException(err, 'EPERM')) throw permissionError(dir, err);
      throw err;
    }
    const prior = record.find((e) => e.path === dest);
    let backup = prior?.backup;
    if (d.action === 'replace') {
      const backups = path.join(hostCliDir(), 'replaced');
      await fsp.mkdir(backups, { recursive: true, mode: 0o755 });
      backup = path.join(
        backups,
        `${pkg.name}-${showVersion(target!.version)}-${createHash('sha256').update(dest).digest('hex').slice(0, 12)}`,
      );
      await fsp.rm(backup, { force: true });
      await copyInto(target!.path, backup);
    }
    try {
      await copyInto(s.file, dest, 0o755);
    } catch (err) {
      if (isErrnoException(err, 'EACCES') || isErrnoException(err, 'EPERM')) throw permissionError(dir, err);
      throw err;
    }
    record = [
      ...record.filter((e) => e.path !== dest),
      {
        name: pkg.name,
        path: dest,
        version,
        debVersion: s.debVersion,
        sha256: ourSha,
        installedAt: new Date().toISOString(),
        ...(backup ? { backup } : {}),
      },
    ];
    await writeRecord(record);

    let message =
      d.action === 'install'
        ? `installed ${pkg.name} ${version} into ${dest}${elsewhere ? ` (${d.reason})` : ''}`
        : d.action === 'upgrade'
          ? `upgraded ${pkg.name} ${showVersion(target!.version)} to ${version} in ${dest}`
          : `replaced your ${pkg.name} ${showVersion(target!.version)} with ${version} in ${dest} (yours is kept in ${backup}; "berth cli uninstall" puts it back)`;
    if (pkg.kind === 'cli') {
      if (!onPath(dir)) message += `; warning: ${dir} is not on your PATH, add it`;
      else {
        const w = await which(pkg.name);
        if (w && path.resolve(w) !== dest) message += `; note: ${w} comes first on your PATH`;
      }
    }
    progress(message);
    results.push({ ...base, existing: theirs, ...(d.action === 'replace' ? { backup } : {}), message });
  }
  return results;
}

// ---------------------------------------------------------------------------------------------------------
// Fetching the packages with the host's apt

/** Debian's name for the host's architecture. */
export function debianArch(arch: string = os.arch()): string {
  if (arch === 'x64') return 'amd64';
  if (arch === 'arm64') return 'arm64';
  throw new BerthError('MISSING_DEPENDENCY', `berth has no docker CLI packages for ${arch} hosts`, {
    hint: 'install docker compose and buildx from your distribution or docker.com',
  });
}

const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** The throwaway apt's sources line: signature checked (Debian's keyring), Valid-Until not (testing lapses). */
export function hostCliSourcesLine(keyring: string | undefined): string {
  const mirror = process.env.BERTH_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  const opts = ['check-valid-until=no', ...(keyring ? [`signed-by=${keyring}`] : [])];
  return `deb [${opts.join(' ')}] ${mirror} ${HOST_CLI_SUITE} main`;
}

/** apt-get options that confine apt to `dir`: its own sources, lists, cache, status and no preferences. */
export function aptOptions(dir: string, arch: string): string[] {
  const o = {
    'Dir::Etc::SourceList': path.join(dir, 'sources.list'),
    'Dir::Etc::SourceParts': '/dev/null',
    'Dir::Etc::Preferences': '/dev/null',
    'Dir::Etc::PreferencesParts': '/dev/null',
    'Dir::State': dir,
    'Dir::State::Lists': path.join(dir, 'lists'),
    'Dir::State::status': path.join(dir, 'status'),
    'Dir::Cache': path.join(dir, 'cache'),
    'APT::Architecture': arch,
    // Only the host's architecture: not also the foreign ones dpkg is configured for (half the download).
    'APT::Architectures': arch,
    'Acquire::Languages': 'none',
    // A source that fails to download is an error, not a warning with an exit status of 0.
    'APT::Update::Error-Mode': 'any',
    // root: apt would drop to _apt, which cannot enter root's home; it falls back to this anyway, with a warning.
    ...(process.getuid?.() === 0 ? { 'APT::Sandbox::User': 'root' } : {}),
  };
  return Object.entries(o).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
}

async function requireDebianTools(): Promise<void> {
  for (const tool of ['apt-get', 'dpkg-deb']) {
    if (!(await which(tool)))
      throw new BerthError(
        'MISSING_DEPENDENCY',
        `${tool} was not found: berth installs the docker CLI plugins from Debian packages`,
        {
          hint: 'on a host without apt (not Debian or Ubuntu), install docker compose and buildx from your distribution or docker.com',
        },
      );
  }
}

/** apt-get's failure as an error: its E:/Err: lines, and a hint for an unreachable archive or a missing key. */
export function aptError(what: string, output: string, cause: unknown): BerthError {
  const lines = output
    .split('\n')
    .filter((l) => /^(E|W|Err):/.test(l.trim()) || /^\s/.test(l))
    .slice(-12);
  const unreachable = /Failed to fetch|Could not (connect|resolve)|Temporary failure|Connection failed/i.test(
    output,
  );
  const sig = !unreachable && /NO_PUBKEY|EXPKEYSIG|not signed|signature|Signed-By|OpenPGP/i.test(output);
  const mirror = process.env.BERTH_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  return new BerthError('MISSING_DEPENDENCY', `${what} from Debian ${HOST_CLI_SUITE} failed`, {
    cause,
    details: (lines.length ? lines : output.trim().split('\n').slice(-12)).join('\n'),
    hint: sig
      ? `the host's Debian archive keyring cannot verify ${HOST_CLI_SUITE}: install a newer debian-archive-keyring`
      : `check that the Debian archive is reachable: ${mirror} (BERTH_DEBIAN_MIRROR overrides it)`,
  });
}

async function apt(args: string[], cwd: string, what: string, timeoutMs: number): Promise<void> {
  const { execa } = await import('execa');
  const r = await execa('apt-get', args, {
    cwd,
    reject: false,
    timeout: timeoutMs,
    env: { LC_ALL: 'C', DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.timedOut)
    throw new BerthError('TIMEOUT', `${what} from Debian ${HOST_CLI_SUITE} took over ${timeoutMs / 1000} s`, {
      hint: 'check that the Debian archive is reachable (BERTH_DEBIAN_MIRROR overrides it)',
    });
  if (r.exitCode !== 0) throw aptError(what, `${String(r.stdout)}\n${String(r.stderr)}`, r);
}

/**
 * Downloads and unpacks the packages into `work` (a fresh dir): apt's lists and cache, the .debs, and the
 * unpacked trees, all beneath it.
 */
export async function fetchHostCli(
  pkgs: readonly HostCliPackage[],
  work: string,
  progress: Progress = () => {},
): Promise<StagedTool[]> {
  await requireDebianTools();
  const arch = debianArch();
  const aptDir = path.join(work, 'apt');
  for (const d of ['lists/partial', 'cache/archives/partial'])
    await fsp.mkdir(path.join(aptDir, d), { recursive: true });
  const keyring = fs.existsSync(DEBIAN_KEYRING) ? DEBIAN_KEYRING : undefined;
  await fsp.writeFile(path.join(aptDir, 'sources.list'), hostCliSourcesLine(keyring) + '\n');
  await fsp.writeFile(path.join(aptDir, 'status'), '');
  const o = aptOptions(aptDir, arch);

  progress(`fetching the Debian ${HOST_CLI_SUITE} package index (${arch})`);
  await apt([...o, 'update'], work, 'fetching the package index', 300_000);
  const debs = path.join(work, 'debs');
  await fsp.mkdir(debs);
  progress(`downloading ${pkgs.map((p) => p.pkg).join(', ')}`);
  await apt(
    [...o, 'download', ...pkgs.map((p) => p.pkg)],
    debs,
    `downloading ${pkgs.map((p) => p.pkg).join(', ')}`,
    600_000,
  );

  const files = await fsp.readdir(debs);
  const staged: StagedTool[] = [];
  for (const pkg of pkgs) {
    const deb = files.find((f) => f.startsWith(`${pkg.pkg}_`) && f.endsWith('.deb'));
    if (!deb) throw new BerthError('INTERNAL', `apt-get download did not leave ${pkg.pkg}'s .deb in ${debs}`);
    const debFile = path.join(debs, deb);
    const debVersion = (await run('dpkg-deb', ['-f', debFile, 'Version'])).stdout.trim();
    const root = path.join(work, 'root', pkg.pkg);
    await fsp.mkdir(root, { recursive: true });
    await run('dpkg-deb', ['-x', debFile, root], { timeoutMs: 300_000 });
    const file = path.join(root, pkg.debPath);
    if (!(await isExecutableFile(file)))
      throw new BerthError(
        'INTERNAL',
        `${deb} has no executable ${pkg.debPath} (has the package's layout changed?)`,
      );
    staged.push({ pkg, debVersion, file });
  }
  return staged;
}

export interface InstallOptions {
  /** Also install the docker CLI (installed anyway when there is no `docker` on PATH). */
  dockerCli?: boolean;
  /** Where the docker CLI goes (default ~/.local/bin). */
  binDir?: string;
  progress?: Progress;
}

/**
 * Installs compose and buildx (and the docker CLI when the host has none, or when asked) from Debian's
 * packages; see placeHostCli for what it replaces and what it leaves alone. Needs apt-get and dpkg-deb, and the
 * Debian archive; runs as the user.
 */
export async function installHostCli(opts: InstallOptions = {}): Promise<HostCliResult[]> {
  const progress = opts.progress ?? (() => {});
  const dockerCli = opts.dockerCli || !(await which('docker'));
  if (dockerCli && !opts.dockerCli) progress('no docker CLI on PATH: installing it too');
  const pkgs = HOST_CLI_PACKAGES.filter((p) => p.kind === 'plugin' || dockerCli);

  await fsp.mkdir(hostCliDir(), { recursive: true, mode: 0o755 });
  let release: () => Promise<void>;
  try {
    release = await acquireLock(path.join(hostCliDir(), 'lock'));
  } catch (err) {
    if (err instanceof BerthError && err.code === 'CONFLICT')
      throw new BerthError('CONFLICT', 'another berth process is installing the docker CLI plugins', {
        hint: 'wait for it to finish, then try again',
        cause: err,
      });
    throw err;
  }
  const work = await fsp.mkdtemp(path.join(hostCliDir(), '.work-'));
  try {
    const staged = await fetchHostCli(pkgs, work, progress);
    return await placeHostCli(staged, { dockerCli, binDir: opts.binDir, progress });
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
    await release();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Uninstall and status

export interface UninstallResult {
  name: string;
  path: string;
  action: 'removed' | 'restored' | 'kept' | 'gone';
  message: string;
}

/**
 * Removes what berth installed (per the record), only where the file is still the one berth wrote (same
 * sha256); a user's copy that berth had replaced is put back.
 */
export async function uninstallHostCli(opts: { progress?: Progress } = {}): Promise<UninstallResult[]> {
  const progress = opts.progress ?? (() => {});
  const record = await readRecord();
  const results: UninstallResult[] = [];
  for (const e of record) {
    let r: UninstallResult;
    const sha = await sha256OrUndefined(e.path);
    let exists = sha !== undefined;
    if (!exists)
      exists = await fsp.lstat(e.path).then(
        () => true,
        () => false,
      );
    if (exists && sha !== e.sha256) {
      r = {
        name: e.name,
        path: e.path,
        action: 'kept',
        message: `kept ${e.path}: it changed since berth installed ${e.name} ${e.version} there`,
      };
    } else {
      if (exists) {
        try {
          await fsp.rm(e.path, { force: true });
        } catch (err) {
          if (isErrnoException(err, 'EACCES') || isErrnoException(err, 'EPERM'))
            throw permissionError(path.dirname(e.path), err);
          throw err;
        }
      }
      const backup =
        e.backup &&
        (await fsp.lstat(e.backup).then(
          () => e.backup,
          () => undefined,
        ));
      if (backup) {
        await copyInto(backup, e.path);
        await fsp.rm(backup, { force: true });
        r = {
          name: e.name,
          path: e.path,
          action: 'restored',
          message: `${exists ? `removed ${e.name} ${e.version} and put` : 'put'} back your earlier ${e.name} at ${e.path}`,
        };
      } else
        r = exists
          ? {
              name: e.name,
              path: e.path,
              action: 'removed',
              message: `removed ${e.name} ${e.version} from ${e.path}`,
            }
          : { name: e.name, path: e.path, action: 'gone', message: `${e.path} was already gone` };
    }
    if (r.action === 'kept' && e.backup) r.message += ` (your earlier copy is still in ${e.backup})`;
    progress(r.message);
    results.push(r);
  }
  if (record.length === 0) progress('nothing to uninstall: berth has no record of files it installed');
  // All forgotten: a file that changed since is the user's now, and berth never removes it later.
  else await writeRecord([]);
  return results;
}

export interface HostCliStatus {
  name: HostCliName;
  /** The copy the docker CLI (PATH, for docker) uses; undefined when there is none. */
  path?: string;
  version?: string;
  /** berth installed it, unchanged since. */
  berth: boolean;
}

/** What the docker CLI would find for each tool (runs each one found for its version; no network). */
export async function hostCliStatus(opts: { systemDirs?: readonly string[] } = {}): Promise<HostCliStatus[]> {
  const record = await readRecord();
  const dirs = [userPluginDir(), ...(await otherPluginDirs(opts.systemDirs))];
  const out: HostCliStatus[] = [];
  for (const pkg of PLUGINS) {
    const f = await firstFound(pkg, dirs, record);
    out.push({ name: pkg.name, path: f?.path, version: f?.version, berth: f?.berth ?? false });
  }
  const w = await which(CLI.name);
  const f = w ? await found(CLI, w, record) : undefined;
  out.push({ name: CLI.name, path: f?.path, version: f?.version, berth: f?.berth ?? false });
  return out;
}
