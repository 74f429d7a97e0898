import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, docker, makeEnv, noStackTrace, writeConfig, type Env } from '../support/env.js';
import { busyboxContext } from '../support/images.js';
import { httpGet } from '../support/net.js';
import { waitFor } from '../support/wait.js';

// Warm start: berth suspend saves the VM's state; berth start resumes it with containers still running.
const NAME = 'sus';
let e: Env;
let counterId: string;
let synced: string;

const status = async () =>
  JSON.parse((await berth(e, ['status', NAME, '--json'])).stdout) as {
    status: string;
    savedState?: { sizeBytes: number; usable: boolean };
  };
const lastCount = async (): Promise<number> => {
  const out = (await docker(e, ['logs', '--tail', '1', counterId])).stdout.trim();
  return Number(out);
};

describe('suspend and resume', () => {
  beforeAll(async () => {
    e = await makeEnv('suspend');
    // The shared home (9p) and, inside it, a synchronised folder (its copy is bound inside the 9p mount).
    synced = await fsp.mkdtemp(path.join(os.homedir(), '.berth-e2e-sync-'));
    await fsp.writeFile(path.join(synced, 'before.txt'), 'before\n');
    await writeConfig(e, NAME, `mounts:\n  - location: "~"\n  - location: ${synced}\n    sync: true\n`);
    const r = await berth(e, ['start', NAME, '--cpus', '2', '--memory', '1GiB']);
    if (r.code !== 0) throw new Error(`start failed:\n${r.stderr}`);
    const b = await docker(e, ['build', '-q', '-t', 'bb:sus', await busyboxContext()]);
    expect(b.code, b.stderr).toBe(0);
  });

  afterAll(async () => {
    if (e) await berth(e, ['delete', NAME, '--force']);
    if (synced) await fsp.rm(synced, { recursive: true, force: true });
  });

  it('a counting container keeps running and counting across suspend/resume; the guest clock is corrected', async () => {
    counterId = (
      await docker(e, [
        'run',
        '-d',
        'bb:sus',
        'sh',
        '-c',
        'i=0; while true; do i=$((i+1)); echo $i; sleep 1; done',
      ])
    ).stdout.trim();
    const web = await docker(e, [
      'run',
      '-d',
      '-p',
      '18090:80',
      'bb:sus',
      'sh',
      '-c',
      'echo served > /index.html && httpd -f -p 80 -h /',
    ]);
    expect(web.code, web.stderr).toBe(0);
    expect(await waitFor(() => httpGet(18090, '/index.html'), 10000, 'the published port')).toBe('served\n');
    await new Promise((r) => setTimeout(r, 4000));
    const before = await lastCount();
    expect(before).toBeGreaterThan(0);

    const s = await berth(e, ['suspend', NAME]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/suspended \(\d+ MiB of state/);
    const st = await status();
    expect(st.status).toBe('Suspended');
    expect(st.savedState?.sizeBytes).toBeGreaterThan(1024 * 1024);
    expect((await berth(e, ['status', NAME])).stdout).toMatch(/saved: .* \(next start resumes from it\)/);
    expect(fs.existsSync(path.join(e.home, NAME, 'docker.sock'))).toBe(false);

    await new Promise((r) => setTimeout(r, 6000)); // long enough that an uncorrected clock would be visibly behind
    const r = await berth(e, ['start', NAME]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resuming from the saved state/);
    expect(r.stderr).not.toMatch(/booting the VM/);

    const ps = await docker(e, ['ps', '-q', '--no-trunc']);
    expect(ps.stdout).toContain(counterId);
    const after = await lastCount();
    expect(after).toBeGreaterThanOrEqual(before); // continued, not restarted from 1
    await new Promise((r) => setTimeout(r, 2500));
    expect(await lastCount()).toBeGreaterThan(after);

    // Forwards come back with the resumed VM (a new QEMU process: the guest reports its listeners again).
    expect(await waitFor(() => httpGet(18090, '/index.html'), 5000, 'the published port after resume')).toBe(
      'served\n',
    );

    const guest = Number((await berth(e, ['ssh', NAME, '--', 'date', '+%s'])).stdout.trim());
    expect(Math.abs(guest - Date.now() / 1000)).toBeLessThan(2);
    expect((await status()).savedState).toBeUndefined(); // consumed: never resumed twice
  });

  it("the guest network works after resume (container → host service through the VM's NAT)", async () => {
    const server = http.createServer((_req, res) => res.end('host-says-hi'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await docker(e, ['run', '--rm', 'bb:sus', 'wget', '-qO-', `http://10.0.2.2:${port}/`]);
      expect(r.stdout).toBe('host-says-hi');
    } finally {
      server.close();
    }
  });

  it('a process using the shared home blocks suspend and is named; after it ends, the share is back after resume', async () => {
    const dir = await fsp.mkdtemp(path.join(os.homedir(), '.berth-e2e-share-'));
    try {
      await fsp.writeFile(path.join(dir, 'seen.txt'), 'shared home\n');
      // A container bind-mounting a shared folder keeps the share mounted in its own mount namespace.
      const ctr = await docker(e, [
        'run',
        '-d',
        '--name',
        'binder',
        '-v',
        `${dir}:/x`,
        'bb:sus',
        'sleep',
        '300',
      ]);
      expect(ctr.code, ctr.stderr).toBe(0);
      const b = await berth(e, ['suspend', NAME]);
      expect(b.code).not.toBe(0);
      expect(b.stderr).toMatch(
        /a shared folder is in use in the guest \(still mounted in a container \(a bind mount\) of sleep \(\d+\)\)/,
      );
      expect((await status()).status).toBe('Running');
      expect((await docker(e, ['exec', 'binder', 'cat', '/x/seen.txt'])).stdout).toBe('shared home');
      expect((await docker(e, ['rm', '-f', 'binder'])).code).toBe(0);

      const hold = await berth(e, [
        'ssh',
        NAME,
        '--',
        'sh',
        '-c',
        `cd '${dir}' && (setsid sleep 300 >/dev/null 2>&1 </dev/null &)`,
      ]);
      expect(hold.code, hold.stderr).toBe(0);
      const s = await berth(e, ['suspend', NAME]);
      expect(s.code).not.toBe(0);
      expect(s.stderr).toMatch(/a shared folder is in use in the guest \(busy .* used by sleep \(\d+\)\)/);
      expect(noStackTrace(s.stderr)).toBe(true);
      expect((await status()).status).toBe('Running');
      expect((await berth(e, ['ssh', NAME, '--', 'cat', path.join(dir, 'seen.txt')])).stdout).toBe(
        'shared home',
      );

      expect((await berth(e, ['ssh', NAME, '--', 'pkill', '-x', 'sleep'])).code).toBe(0);
      const s2 = await berth(e, ['suspend', NAME]);
      expect(s2.code, s2.stderr).toBe(0);
      expect((await berth(e, ['start', NAME])).code).toBe(0);
      expect((await berth(e, ['ssh', NAME, '--', 'cat', path.join(dir, 'seen.txt')])).stdout).toBe(
        'shared home',
      );
    } finally {
      await berth(e, ['ssh', NAME, '--', 'pkill', '-x', 'sleep']);
      await docker(e, ['rm', '-f', 'binder']);
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it('a synchronised folder inside the shared home: a container using it does not block suspend; changes made while suspended arrive', async () => {
    const ctr = await docker(e, [
      'run',
      '-d',
      '--name',
      'syncer',
      '-v',
      `${synced}:/s`,
      'bb:sus',
      'sleep',
      '300',
    ]);
    expect(ctr.code, ctr.stderr).toBe(0);
    expect((await docker(e, ['exec', 'syncer', 'cat', '/s/before.txt'])).stdout).toBe('before');
    const s = await berth(e, ['suspend', NAME]);
    expect(s.code, s.stderr).toBe(0);
    await fsp.writeFile(path.join(synced, 'while.txt'), 'written while suspended\n');
    await fsp.rm(path.join(synced, 'before.txt'));
    expect((await berth(e, ['start', NAME])).code).toBe(0);
    await waitFor(
      async () =>
        (await docker(e, ['exec', 'syncer', 'cat', '/s/while.txt'])).stdout === 'written while suspended' ||
        undefined,
      15000,
      'the host change in the container',
    );
    expect((await docker(e, ['exec', 'syncer', 'ls', '/s'])).stdout).toBe('while.txt');
    expect((await berth(e, ['ssh', NAME, '--', 'cat', path.join(synced, 'while.txt')])).stdout).toBe(
      'written while suspended',
    );
    expect((await docker(e, ['exec', 'syncer', 'sh', '-c', 'echo from-container > /s/after.txt'])).code).toBe(
      0,
    );
    await waitFor(
      async () => fs.existsSync(path.join(synced, 'after.txt')) || undefined,
      10000,
      'the container write on the host',
    );
    await docker(e, ['rm', '-f', 'syncer']);
  });

  it('a state file QEMU cannot load (corrupted in place) also falls back to a cold start', async () => {
    expect((await berth(e, ['suspend', NAME])).code).toBe(0);
    const file = path.join(e.home, NAME, 'suspend.state');
    const fh = await fsp.open(file, 'r+');
    await fh.write(Buffer.alloc(4096, 0xab), 0, 4096, 0); // clobber the header; the size stays the same
    await fh.close();
    const r = await berth(e, ['start', NAME]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/notice: the saved state could not be used .*; cold start/);
    expect((await docker(e, ['version', '--format', '{{.Server.Os}}'])).stdout).toBe('linux');
  });
});
