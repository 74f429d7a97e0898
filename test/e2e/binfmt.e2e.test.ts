import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, docker, makeEnv, type Env } from '../support/env.js';
import { arm64Busybox, busyboxContext } from '../support/images.js';

// Foreign-arch containers in a native (x86_64) VM through binfmt_misc + qemu-user-static.
const NAME = 'xarch';
let e: Env;
let ctx: string;

describe.runIf(process.arch === 'x64')('foreign-arch containers via binfmt_misc', () => {
  beforeAll(async () => {
    e = await makeEnv('binfmt');
    ctx = await busyboxContext({ busybox: await arm64Busybox() });
    const r = await berth(e, ['start', NAME, '--cpus', '2', '--memory', '1GiB']);
    if (r.code !== 0) throw new Error(`start failed:\n${r.stderr}`);
  });

  afterAll(async () => {
    if (e) await berth(e, ['delete', NAME, '--force']);
  });

  it('status lists the platforms the instance can run', async () => {
    const s = JSON.parse((await berth(e, ['status', NAME, '--json'])).stdout) as { platforms: string[] };
    expect(s.platforms[0]).toBe('linux/amd64');
    expect(s.platforms).toEqual(
      expect.arrayContaining([
        'linux/arm64',
        'linux/arm/v7',
        'linux/riscv64',
        'linux/ppc64le',
        'linux/s390x',
      ]),
    );
    expect((await berth(e, ['status', NAME])).stdout).toMatch(
      /platforms: linux\/amd64 \(native\), .*linux\/arm64/,
    );
  });

  it('docker build --platform linux/arm64 runs RUN steps of an arm64 image; the container reports aarch64', async () => {
    const b = await docker(e, ['build', '--platform', 'linux/arm64', '-q', '-t', 'bb:arm64', ctx]);
    expect(b.code, b.stderr).toBe(0);
    const arch = await docker(e, ['image', 'inspect', '--format', '{{.Architecture}}', 'bb:arm64']);
    expect(arch.stdout.trim()).toBe('arm64');
    const r = await docker(e, [
      'run',
      '--rm',
      '--platform',
      'linux/arm64',
      'bb:arm64',
      'sh',
      '-c',
      'uname -m; cat /built-on',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('aarch64\naarch64');
    // native containers are untouched
    const n = await docker(e, ['run', '--rm', '--platform', 'linux/arm64', 'bb:arm64', 'true']);
    expect(n.code).toBe(0);
  });
});
