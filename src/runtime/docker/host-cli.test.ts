import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  HOST_CLI_PACKAGES,
  aptError,
  compareVersions,
  debUpstreamVersion,
  decideInstall,
  hostCliMissing,
  hostCliSourcesLine,
  parseVersion,
  placeHostCli,
  readRecord,
  uninstallHostCli,
  type StagedTool,
} from './host-cli.js';

describe('versions', () => {
  it('parses plugin and Debian versions, with or without a leading v and a suffix', () => {
    expect(parseVersion('v2.40.3')).toEqual([2, 40, 3]);
    expect(parseVersion('2.40.3-3')).toEqual([2, 40, 3]);
    expect(parseVersion('0.29.1+ds1')).toEqual([0, 29, 1]);
    expect(parseVersion('v2.40.3-desktop.1')).toEqual([2, 40, 3]);
    expect(parseVersion(' 28.5.2+dfsg4\n')).toEqual([28, 5, 2]);
    expect(parseVersion('0.30')).toEqual([0, 30]);
  });

  it('does not parse what has no leading dotted number', () => {
    for (const v of ['dev', '', 'v', '2.x', 'latest', 'v2.40.3 (dirty)', undefined]) {
      expect(parseVersion(v)).toBeUndefined();
    }
  });

  it('compares numerically, dot by dot; a missing part is 0', () => {
    expect(compareVersions([2, 10], [2, 9])).toBe(1);
    expect(compareVersions([0, 29, 1], [0, 30, 0])).toBe(-1);
    expect(compareVersions([2, 40], [2, 40, 0])).toBe(0);
    expect(compareVersions([2, 40, 0, 1], [2, 40])).toBe(1);
  });

  it("takes the upstream part of a .deb's Version", () => {
    expect(debUpstreamVersion('2.40.3+ds1-1')).toBe('2.40.3');
    expect(debUpstreamVersion('0.29.1+ds1-4')).toBe('0.29.1');
    expect(debUpstreamVersion('1:28.5.2+dfsg4-5')).toBe('28.5.2');
    expect(debUpstreamVersion('garbage')).toBeUndefined();
  });
});

describe('the install decision', () => {
  const ours = { version: '2.40.3-3', sha256: 'aaa' };
  const at = (version: string | undefined, extra: object = {}) => ({
    path: '/u/docker-compose',
    version,
    ...extra,
  });
  const sys = (version: string | undefined) => ({
    path: '/usr/libexec/docker/cli-plugins/docker-compose',
    version,
  });

  it('installs a missing one', () => {
    expect(decideInstall(ours, undefined).action).toBe('install');
  });

  it("replaces the user's older one", () => {
    expect(decideInstall(ours, at('v2.20.0'))).toEqual({ action: 'replace', reason: 'older than 2.40.3' });
  });

  it("keeps the user's newer or equal one, and one whose version does not parse", () => {
    expect(decideInstall(ours, at('v2.41.0'))).toEqual({ action: 'keep', reason: 'newer than 2.40.3' });
    expect(decideInstall(ours, at('2.40.3')).action).toBe('keep');
    expect(decideInstall(ours, at('dev')).action).toBe('keep');
    expect(decideInstall(ours, at(undefined)).action).toBe('keep');
  });

  it("upgrades berth's own older copy, or the same version rebuilt; leaves the same build", () => {
    expect(decideInstall(ours, at('2.39.0', { berth: true, sha256: 'bbb' })).action).toBe('upgrade');
    expect(decideInstall(ours, at('2.40.3-2', { berth: true, sha256: 'bbb' })).action).toBe('upgrade');
    expect(decideInstall(ours, at('2.40.3-3', { berth: true, sha256: 'aaa' })).action).toBe('current');
  });

  it('skips when one found later (system-wide) is as new or newer, or of an unknown version', () => {
    expect(decideInstall(ours, undefined, sys('2.40.3')).action).toBe('skip');
    expect(decideInstall(ours, undefined, sys('v5.0.0')).action).toBe('skip');
    expect(decideInstall(ours, undefined, sys('dev')).action).toBe('skip');
  });

  it('installs over (in front of) an older system-wide one', () => {
    const d = decideInstall(ours, undefined, sys('2.20.2'));
    expect(d.action).toBe('install');
    expect(d.reason).toContain('2.20.2');
  });

  it("the user's copy in the plugin dir decides, not a system-wide one", () => {
    expect(decideInstall(ours, at('3.0.0'), sys('1.0.0')).action).toBe('keep');
  });
});

describe('the sources line', () => {
  const saved = process.env.BERTH_DEBIAN_MIRROR;
  afterEach(() => {
    if (saved === undefined) delete process.env.BERTH_DEBIAN_MIRROR;
    else process.env.BERTH_DEBIAN_MIRROR = saved;
  });

  it('keeps signature checks, skips Valid-Until, honours BERTH_DEBIAN_MIRROR', () => {
    delete process.env.BERTH_DEBIAN_MIRROR;
    expect(hostCliSourcesLine('/k.gpg')).toBe(
      'deb [check-valid-until=no signed-by=/k.gpg] http://deb.debian.org/debian forky main',
    );
    process.env.BERTH_DEBIAN_MIRROR = 'http://mirror.example/debian';
    expect(hostCliSourcesLine(undefined)).toBe(
      'deb [check-valid-until=no] http://mirror.example/debian forky main',
    );
  });
});

describe('apt failures', () => {
  it('an unreachable archive says so, even when apt then calls the source unsigned', () => {
    const e = aptError(
      'fetching the package index',
      'Err:1 http://deb.debian.org/debianx forky InRelease\n  400  Bad Request\nE: Failed to fetch http://deb.debian.org/debianx/dists/forky/InRelease\nE: The repository is not signed.',
      undefined,
    );
    expect(e.code).toBe('MISSING_DEPENDENCY');
    expect(e.hint).toContain('reachable');
    expect(e.details).toContain('400  Bad Request');
  });

  it('a key the host lacks points at the keyring', () => {
    const e = aptError(
      'fetching the package index',
      'W: GPG error: http://deb.debian.org/debian forky InRelease: The following signatures could not be verified because the public key is not available: NO_PUBKEY 762F67A0B2C39DE4\nE: The repository is not signed.',
      undefined,
    );
    expect(e.hint).toContain('debian-archive-keyring');
  });
});

describe('placing, checking and uninstalling (temp dirs, fake plugins)', () => {
  const ENV = ['DOCKER_CONFIG', 'XDG_CACHE_HOME', 'BERTH_IMAGE_CACHE'] as const;
  const saved: Partial<Record<(typeof ENV)[number], string>> = {};
  let tmp: string;
  let plugins: string;
  let system: string;
  let staging: string;

  beforeEach(async () => {
    for (const k of ENV) saved[k] = process.env[k];
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-host-cli-'));
    process.env.DOCKER_CONFIG = path.join(tmp, 'docker');
    process.env.XDG_CACHE_HOME = path.join(tmp, 'cache');
    delete process.env.BERTH_IMAGE_CACHE;
    plugins = path.join(tmp, 'docker', 'cli-plugins');
    system = path.join(tmp, 'system');
    staging = path.join(tmp, 'staging');
    await fsp.mkdir(system, { recursive: true });
    await fsp.mkdir(staging, { recursive: true });
  });

  afterEach(async () => {
    for (const k of ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await fsp.rm(tmp, { recursive: true, force: true });
  });

  /** A fake plugin: prints its metadata with `version` (or exits 1 when version is undefined). */
  async function fakePlugin(file: string, version: string | undefined, tag = ''): Promise<string> {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const body =
      version === undefined
        ? 'exit 1'
        : `[ "$1" = docker-cli-plugin-metadata ] && echo '{"SchemaVersion":"0.1.0","Vendor":"x","Version":"${version}"}'`;
    await fsp.writeFile(file, `#!/bin/sh\n# ${tag}\n${body}\n`, { mode: 0o755 });
    return file;
  }

  const pkg = (name: string) => HOST_CLI_PACKAGES.find((p) => p.name === name)!;

  async function stage(): Promise<StagedTool[]> {
    return [
      {
        pkg: pkg('docker-compose'),
        debVersion: '2.40.3-3',
        file: await fakePlugin(path.join(staging, 'docker-compose'), '2.40.3-3', 'berth'),
      },
      {
        pkg: pkg('docker-buildx'),
        debVersion: '0.29.1+ds1-4',
        file: await fakePlugin(path.join(staging, 'docker-buildx'), '0.29.1+ds1', 'berth'),
      },
    ];
  }

  const place = async (msgs: string[] = []) =>
    placeHostCli(await stage(), { systemDirs: [system], progress: (m) => msgs.push(m) });

  it('installs missing plugins (0755, recorded with their sha256) and reports it', async () => {
    expect(await hostCliMissing({ systemDirs: [system] })).toEqual(['docker-compose', 'docker-buildx']);
    const msgs: string[] = [];
    const r = await place(msgs);
    expect(r.map((x) => x.action)).toEqual(['install', 'install']);
    expect(msgs[0]).toBe(`installed docker-compose 2.40.3 into ${path.join(plugins, 'docker-compose')}`);
    const st = await fsp.stat(path.join(plugins, 'docker-compose'));
    expect(st.mode & 0o777).toBe(0o755);
    expect((await fsp.stat(plugins)).mode & 0o777).toBe(0o755);
    const rec = await readRecord();
    expect(rec.map((e) => [e.name, e.version])).toEqual([
      ['docker-compose', '2.40.3'],
      ['docker-buildx', '0.29.1'],
    ]);
    expect(rec[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(await hostCliMissing({ systemDirs: [system] })).toEqual([]);
    expect(await fsp.readdir(plugins)).toEqual(['docker-buildx', 'docker-compose']); // no temp files left

    // Again: nothing to do.
    expect((await place()).map((x) => x.action)).toEqual(['current', 'current']);
  });

  it("replaces the user's older plugin, keeps newer and unparsable ones untouched", async () => {
    await fakePlugin(path.join(plugins, 'docker-compose'), 'v2.20.0', 'users-old');
    await fakePlugin(path.join(plugins, 'docker-buildx'), 'v0.30.0', 'users-new');
    const msgs: string[] = [];
    const r = await place(msgs);
    expect(r.map((x) => x.action)).toEqual(['replace', 'keep']);
    expect(msgs[1]).toBe(
      `kept your docker-buildx 0.30.0 at ${path.join(plugins, 'docker-buildx')} (newer than 0.29.1)`,
    );
    expect(await fsp.readFile(path.join(plugins, 'docker-compose'), 'utf8')).toContain('# berth');
    expect(await fsp.readFile(path.join(plugins, 'docker-buildx'), 'utf8')).toContain('# users-new');
    expect(await fsp.readFile(r[0]!.backup!, 'utf8')).toContain('# users-old');
    expect((await readRecord()).map((e) => e.name)).toEqual(['docker-compose']);

    // Uninstall puts the user's older one back.
    const u = await uninstallHostCli();
    expect(u.map((x) => x.action)).toEqual(['restored']);
    expect(await fsp.readFile(path.join(plugins, 'docker-compose'), 'utf8')).toContain('# users-old');
    expect(await fsp.readFile(path.join(plugins, 'docker-buildx'), 'utf8')).toContain('# users-new');
  });

  it('keeps a plugin whose version does not parse, or that reports none', async () => {
    await fakePlugin(path.join(plugins, 'docker-compose'), 'dev', 'users-dev');
    await fakePlugin(path.join(plugins, 'docker-buildx'), undefined, 'users-broken');
    const r = await place();
    expect(r.map((x) => x.action)).toEqual(['keep', 'keep']);
    expect(await fsp.readFile(path.join(plugins, 'docker-compose'), 'utf8')).toContain('# users-dev');
    expect(await fsp.readFile(path.join(plugins, 'docker-buildx'), 'utf8')).toContain('# users-broken');
    expect(await readRecord()).toEqual([]);
  });

  it('skips a plugin a system-wide dir has as new; installs in front of an older one', async () => {
    await fakePlugin(path.join(system, 'docker-compose'), '2.40.3', 'system');
    await fakePlugin(path.join(system, 'docker-buildx'), 'v0.12.1', 'system-old');
    expect(await hostCliMissing({ systemDirs: [system] })).toEqual([]);
    const r = await place();
    expect(r.map((x) => x.action)).toEqual(['skip', 'install']);
    expect(r[0]!.message).toContain(path.join(system, 'docker-compose'));
    expect(await fsp.readdir(plugins)).toEqual(['docker-buildx']);
  });

  it('uninstall removes only files still as berth wrote them', async () => {
    await place();
    await fsp.appendFile(path.join(plugins, 'docker-buildx'), '# edited by the user\n');
    const msgs: string[] = [];
    const u = await uninstallHostCli({ progress: (m) => msgs.push(m) });
    expect(u.map((x) => [x.name, x.action])).toEqual([
      ['docker-compose', 'removed'],
      ['docker-buildx', 'kept'],
    ]);
    expect(await fsp.readdir(plugins)).toEqual(['docker-buildx']);
    expect(msgs[1]).toContain('changed since berth installed');
    expect(await readRecord()).toEqual([]);
    // A second uninstall has nothing left to remove, and the user's file stays.
    expect(await uninstallHostCli()).toEqual([]);
    expect(await fsp.readdir(plugins)).toEqual(['docker-buildx']);
  });

  it('the docker CLI: into the bin dir, in front of an older one on PATH; warns when off PATH', async () => {
    const savedPath = process.env.PATH;
    try {
      const other = path.join(tmp, 'other-bin');
      const bin = path.join(tmp, 'bin');
      await fsp.mkdir(other);
      await fsp.writeFile(
        path.join(other, 'docker'),
        '#!/bin/sh\necho "Docker version 20.10.24, build 297e128"\n',
        {
          mode: 0o755,
        },
      );
      const cli: StagedTool = {
        pkg: pkg('docker'),
        debVersion: '28.5.2+dfsg4-5',
        file: path.join(staging, 'docker'),
      };
      await fsp.writeFile(cli.file, '#!/bin/sh\necho "Docker version 28.5.2+dfsg4, build 9cc6dea"\n', {
        mode: 0o755,
      });
      process.env.PATH = other;
      // Not asked for: left out.
      expect(await placeHostCli([cli], { binDir: bin, systemDirs: [system] })).toEqual([]);
      const r = await placeHostCli([cli], { dockerCli: true, binDir: bin, systemDirs: [system] });
      expect(r[0]!.action).toBe('install');
      expect(r[0]!.existing).toEqual({ path: path.join(other, 'docker'), version: '20.10.24' });
      expect(r[0]!.message).toContain(`warning: ${bin} is not on your PATH`);
      expect((await fsp.stat(path.join(bin, 'docker'))).mode & 0o777).toBe(0o755);
      process.env.PATH = [bin, other].join(path.delimiter);
      const again = await placeHostCli([cli], { dockerCli: true, binDir: bin, systemDirs: [system] });
      expect(again[0]!.action).toBe('current');
      expect((await uninstallHostCli()).map((x) => x.action)).toEqual(['removed']);
      expect(await fsp.readdir(bin)).toEqual([]);
    } finally {
      process.env.PATH = savedPath;
    }
  });

  it('hostCliMissing: a non-executable file counts as missing; cliPluginsExtraDirs count', async () => {
    await fsp.mkdir(plugins, { recursive: true });
    await fsp.writeFile(path.join(plugins, 'docker-compose'), 'not a program', { mode: 0o644 });
    expect(await hostCliMissing({ systemDirs: [system] })).toEqual(['docker-compose', 'docker-buildx']);
    const extra = path.join(tmp, 'extra');
    await fakePlugin(path.join(extra, 'docker-buildx'), '0.29.1');
    await fsp.writeFile(
      path.join(tmp, 'docker', 'config.json'),
      JSON.stringify({ cliPluginsExtraDirs: [extra] }),
    );
    expect(await hostCliMissing({ systemDirs: [system] })).toEqual(['docker-compose']);
  });
});
