import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, docker, makeEnv, type Env } from '../support/env.js';
import { arm64Busybox, busyboxContext } from '../support/images.js';

// Slow: a whole aarch64 VM under full emulation (TCG) on an x86_64 host. Runs in CI all the same.
const NAME = 'arm';
const CTX = `berth-${NAME}`;
let e: Env;

describe.runIf(process.arch === 'x64')('foreign-arch VM: --arch aarch64 (slow)', () => {
  beforeAll(async () => {
    e = await makeEnv('aarch64');
    const r = await berth(e, [
      'start',
      NAME,
      '--arch',
      'aarch64',
      '--cpus',
      '2',
      '--memory',
      '2GiB',
      '--no-activate',
    ]);
    if (r.code !== 0) throw new Error(`start failed:\n${r.stderr}`);
    expect(r.stderr).toMatch(/aarch64 VM on a x86_64 host: every instruction is emulated/);
  });

  afterAll(async () => {
    if (e) await berth(e, ['delete', NAME, '--force']);
  });

  it('list and status show the arch and that it is emulated', async () => {
    const s = JSON.parse((await berth(e, ['status', NAME, '--json'])).stdout) as {
      arch: string;
      runs: string;
      accel: string;
      platforms: string[];
    };
    expect(s).toMatchObject({ arch: 'aarch64', runs: 'emulated/tcg', accel: 'tcg' });
    expect(s.platforms[0]).toBe('linux/arm64');
    expect((await berth(e, ['list'])).stdout).toMatch(/arm\s+Running\s+aarch64\s+.*emulated\/tcg/);
  });

  it('the host docker CLI builds and runs an arm64 image natively (no binfmt involved)', async () => {
    const info = await docker(e, ['--context', CTX, 'info', '--format', '{{.Architecture}}']);
    expect(info.stdout.trim()).toBe('aarch64');
    const ctx = await busyboxContext({ busybox: await arm64Busybox() });
    const b = await docker(e, ['--context', CTX, 'build', '-q', '-t', 'bb:native', ctx]);
    expect(b.code, b.stderr).toBe(0);
    const r = await docker(e, [
      '--context',
      CTX,
      'run',
      '--rm',
      'bb:native',
      'sh',
      '-c',
      'uname -m; cat /built-on',
    ]);
    expect(r.stdout).toBe('aarch64\naarch64');
    // native: no qemu-aarch64 interpreter is registered in this guest, so nothing was emulated in user space
    const reg = await berth(e, [
      'ssh',
      NAME,
      '--',
      'sh',
      '-c',
      'test -e /proc/sys/fs/binfmt_misc/qemu-aarch64 && echo registered || echo none',
    ]);
    expect(reg.stdout.trim()).toBe('none');
  });

  it('berth ssh works and data survives stop/start', async () => {
    expect((await berth(e, ['ssh', NAME, '--', 'uname', '-m'])).stdout.trim()).toBe('aarch64');
    const w = await docker(e, [
      '--context',
      CTX,
      'run',
      '--rm',
      '-v',
      'armdata:/d',
      'bb:native',
      'sh',
      '-c',
      'echo kept > /d/f && sync',
    ]);
    expect(w.code, w.stderr).toBe(0);
    expect((await berth(e, ['stop', NAME])).code).toBe(0);
    const s = await berth(e, ['start', NAME, '--no-activate']);
    expect(s.code, s.stderr).toBe(0);
    const r = await docker(e, [
      '--context',
      CTX,
      'run',
      '--rm',
      '-v',
      'armdata:/d',
      'bb:native',
      'cat',
      '/d/f',
    ]);
    expect(r.stdout).toBe('kept');
  });
});
