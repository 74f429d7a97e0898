import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { berth, makeEnv, noStackTrace, writeConfig, type Env } from '../support/env.js';

// Bad input: clear errors, right exit codes, nothing written. No VM boots here.
describe('bad input', () => {
  let e: Env;
  beforeAll(async () => {
    e = await makeEnv('neg');
  });

  const badInstance = (name: string, yaml: string) => writeConfig(e, name, yaml);

  it('malformed YAML: names file and line, exit 65, file unchanged', async () => {
    const file = await badInstance('broken', 'cpus: 2\nmemory: [4GiB\n');
    const r = await berth(e, ['start', 'broken']);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain(`${file}:`);
    expect(r.stderr).toMatch(/invalid YAML/);
    expect(noStackTrace(r.stderr)).toBe(true);
    expect(await fsp.readFile(file, 'utf8')).toBe('cpus: 2\nmemory: [4GiB\n');
  });

  it('unknown key: names file, line and field, with a hint', async () => {
    const file = await badInstance('typo', 'cpus: 1\nmemroy: 1GiB\n');
    const r = await berth(e, ['start', 'typo']);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain(`${file}:2:1: memroy: unknown field "memroy"`);
    expect(r.stderr).toMatch(/hint:/);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['berth.yaml']);
  });

  it('docker: settings berth owns or does not know: exit 65 naming file:line and field, nothing written', async () => {
    const yaml =
      'cpus: 1\ndocker:\n  debug: true\n  hosts: ["tcp://0.0.0.0:2375"]\n  registry-mirror: ["x"]\n';
    const file = await badInstance('engine-typo', yaml);
    const r = await berth(e, ['start', 'engine-typo']);
    expect(r.code).toBe(65);
    expect(r.stderr).toContain(`${file}:4:3: docker.hosts: set by berth`);
    expect(r.stderr).toContain(`${file}:5:3: docker.registry-mirror: not a Docker Engine setting`);
    expect(noStackTrace(r.stderr)).toBe(true);
    expect(await fsp.readFile(file, 'utf8')).toBe(yaml);
    expect(fs.readdirSync(path.dirname(file))).toEqual(['berth.yaml']);
    const shape = await badInstance('engine-shape', 'docker:\n  insecure-registries: "host:5000"\n');
    const s = await berth(e, ['start', 'engine-shape']);
    expect(s.code).toBe(65);
    expect(s.stderr).toContain(`${shape}:2:24: docker.insecure-registries: Expected array, received string`);
  });

  it.runIf(process.getuid?.() === 0)(
    'a VM as root is refused unless BERTH_ALLOW_ROOT=1: exit 77, nothing created',
    async () => {
      const env = { ...e.env };
      delete env.BERTH_ALLOW_ROOT;
      const r = await berth(e, ['start', 'as-root'], { env });
      if (r.code === 0) await berth(e, ['delete', 'as-root', '--force']); // (a regression: do not leave it running)
      expect(r.code).toBe(77);
      expect(r.stderr).toMatch(/refusing to run a VM as root/);
      expect(r.stderr).toMatch(/hint: .*BERTH_ALLOW_ROOT=1/);
      expect(noStackTrace(r.stderr)).toBe(true);
      expect(fs.existsSync(path.join(e.home, 'as-root'))).toBe(false);
    },
  );

  it('instance names that could escape BERTH_HOME or collide: exit 64, BERTH_HOME not even made', async () => {
    const fresh = await makeEnv('neg-names');
    for (const name of ['../x', 'A', 'a'.repeat(32), '_config', 'a/b']) {
      const r = await berth(fresh, ['start', name]);
      expect(r.code, name).toBe(64);
      expect(r.stderr).toMatch(/invalid instance name/);
      expect(noStackTrace(r.stderr)).toBe(true);
    }
    expect(fs.existsSync(fresh.home)).toBe(false);
  });

  it('bad flag on a new instance: exit 64 and no instance dir', async () => {
    const r = await berth(e, ['start', 'fresh', '--memory', 'lots']);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/--memory: "lots" is not a size/);
    expect(fs.existsSync(path.join(e.home, 'fresh'))).toBe(false);
  });

  it('unknown instance: exit 66 for stop, status, ssh, delete', async () => {
    for (const cmd of [
      ['stop', 'nope'],
      ['status', 'nope'],
      ['ssh', 'nope'],
      ['delete', 'nope'],
      ['logs', 'nope'],
    ]) {
      const r = await berth(e, cmd);
      expect(r.code, cmd.join(' ')).toBe(66);
      expect(r.stderr).toMatch(/instance "nope" does not exist/);
      expect(noStackTrace(r.stderr)).toBe(true);
    }
  });

  it('qemu missing from PATH: exit 69 naming the package, nothing created', async () => {
    const r = await berth(e, ['start', 'noqemu'], { env: { ...e.env, PATH: '/nonexistent' } });
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/qemu-system-x86_64 was not found on PATH/);
    expect(r.stderr).toMatch(/apt-get install qemu-system-x86/);
    expect(fs.existsSync(path.join(e.home, 'noqemu'))).toBe(false);
  });

  it('unknown command and bad option: usage exit 64', async () => {
    expect((await berth(e, ['frobnicate'])).code).toBe(64);
    expect((await berth(e, ['start', '--accel'])).code).toBe(64);
    const r = await berth(e, ['start', 'x', '--accel', 'warp']);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/--accel: Invalid enum value/);
  });

  it('image import with a wrong digest: exit 74, nothing cached', async () => {
    const cache = path.join(path.dirname(e.home), 'cache');
    const archive = path.join(path.dirname(e.home), 'fake.tar');
    await fsp.writeFile(archive, 'not an image');
    const r = await berth(e, ['image', 'import', archive, '--sha256', 'a'.repeat(64)], {
      env: { ...e.env, BERTH_IMAGE_CACHE: cache },
    });
    expect(r.code).toBe(74);
    expect(r.stderr).toMatch(/image digest mismatch/);
    expect(fs.readdirSync(cache)).toEqual([]);
  });

  it('image import: a digest that is not 64 hex digits is refused before any network or cache access', async () => {
    const cache = path.join(path.dirname(e.home), 'cache-digest');
    for (const digest of ['/../../x', 'A'.repeat(64), 'a'.repeat(63)]) {
      const r = await berth(e, ['image', 'import', 'http://127.0.0.1:9/never.tar', '--sha256', digest], {
        env: { ...e.env, BERTH_IMAGE_CACHE: cache },
      });
      expect(r.code, digest).toBe(64);
      expect(r.stderr).toMatch(/is not 64 lowercase hex digits/);
    }
    expect(fs.existsSync(cache)).toBe(false);
  });
});
