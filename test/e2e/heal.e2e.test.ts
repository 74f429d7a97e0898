import { createHash } from 'node:crypto';
import Docker from 'dockerode';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  berth,
  berthOk,
  docker,
  dockerOk,
  makeEnv,
  noStackTrace,
  printInstanceLogs,
  writeConfig,
  type Env,
} from '../support/env.js';
import { startTestResolver } from '../support/dns.js';
import { toolsContext } from '../support/images.js';
import { httpGet } from '../support/net.js';
import { guestClockBehind, simulateHostSleep } from '../support/host-sleep.js';
import { pidFromFile, rssKiB } from '../support/proc.js';
import { waitFor } from '../support/wait.js';

// Never broken: the instance heals itself after a crash of its VM, a kernel panic, a host sleep, a resolver
// change and a full host disk; a VM that cannot boot ends in a crash loop instead of flapping. One instance
// for the whole file; its BERTH_HOME is on a small tmpfs when the suite runs as root (the full-disk case).
const NAME = 'heal';
const PORT = 18190;
let e: Env;
let fsDir: string | undefined; // the tmpfs BERTH_HOME lives on, when mounted
let shared: string;
let systemSocket = false;
const SYSTEM_SOCKET = '/var/run/docker.sock';
const SLEEP_MS = 20_000;
// The agent's clock (and usage) check every 10 s instead of 30 s: the clock case waits for one. Its restarts
// back off from 0.25 s instead of 1 s (0.25, 0.5, 1, 2 s: the crash loop's four; the doubling is unit-tested).
const USAGE_INTERVAL_MS = 10_000;
const RESTART_DELAY_MS = 250;

interface StatusJson {
  status: string;
  qemuPid?: number;
  error?: string;
  lastCrash?: { at: string; text: string; restarts: number };
}
const status = async () => JSON.parse((await berth(e, ['status', NAME, '--json'])).stdout) as StatusJson;
const file = (f: string) => path.join(e.home, NAME, f);
const isLink = (p: string) => {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
};
/** docker run arguments for a throwaway container with the test's volume at /data. */
const withData = (...cmd: string[]) => ['run', '--rm', '-v', 'healdata:/data', 'tools:heal', ...cmd];
const seconds = (t0: number) => ((Date.now() - t0) / 1000).toFixed(2);

/** Waits for the engine to answer through the host socket again; returns the seconds it took. */
async function engineBack(t0: number, timeoutMs: number, what: string): Promise<string> {
  await waitFor(
    async () =>
      (await docker(e, ['version', '--format', '{{.Server.Version}}'])).code === 0 &&
      (await status()).status === 'Running',
    timeoutMs,
    what,
    { intervalMs: 100 },
  );
  return seconds(t0);
}

describe('never broken: self-healing', () => {
  beforeAll(async () => {
    e = await makeEnv('heal');
    if (process.getuid?.() === 0) {
      fsDir = path.join(e.root, 'fs');
      await fsp.mkdir(fsDir);
      const m = await execa('mount', ['-t', 'tmpfs', '-o', 'size=2560m,mode=0700', 'tmpfs', fsDir], {
        reject: false,
      });
      if (m.exitCode === 0)
        e = { ...e, home: path.join(fsDir, 'home'), env: { ...e.env, BERTH_HOME: path.join(fsDir, 'home') } };
      else fsDir = undefined;
    }
    // A shared folder of its own (not hidden: berth wakes no watchers in hidden folders such as ~/.cache).
    shared = path.join(e.root, 'share');
    await fsp.mkdir(path.join(shared, 'w'), { recursive: true });
    // As root (CI), Docker's default socket is linked to the instance (opt-in), unless the host has its own.
    systemSocket = process.getuid?.() === 0 && !fs.existsSync(SYSTEM_SOCKET);
    await writeConfig(
      e,
      NAME,
      `mounts:\n  - location: ${shared}\n    writable: true\nsystemSocket: ${systemSocket}\n`,
    );
    e = {
      ...e,
      env: {
        ...e.env,
        XDG_CONFIG_HOME: path.join(e.root, 'config'),
        BERTH_USAGE_INTERVAL_MS: String(USAGE_INTERVAL_MS),
        BERTH_RESTART_DELAY_MS: String(RESTART_DELAY_MS),
      },
    };
    await berthOk(e, ['start', NAME, '--cpus', '2', '--memory', '2GiB']);
    await dockerOk(e, ['build', '-q', '-t', 'tools:heal', await toolsContext()]);
    await dockerOk(e, withData('sh', '-c', 'echo kept > /data/f && sync'));
    // A service that Docker itself brings back when its engine starts again.
    await dockerOk(e, [
      'run',
      '-d',
      '--name',
      'web',
      '--restart',
      'always',
      '-p',
      `${PORT}:80`,
      'tools:heal',
      'sh',
      '-c',
      'echo served > /index.html && httpd -f -p 80 -h /',
    ]);
    expect(await waitFor(() => httpGet(PORT, '/index.html'), 15000, 'the published port')).toBe('served\n');
  });

  afterAll(async () => {
    if (e) await berth(e, ['delete', NAME, '--force']);
    if (fsDir) await execa('umount', [fsDir], { reject: false });
    if (e) await fsp.rm(e.root, { recursive: true, force: true });
  });

  it('kill -9 of QEMU: the VM comes back by itself (restart: on-failure), with its volume, containers and ports', async () => {
    // A crash loses what the guest had not written yet, as on real hardware: the container made a moment ago
    // is written out first (the guest's page cache would do it within seconds).
    await berthOk(e, ['ssh', NAME, '--', 'sync']);
    const before = pidFromFile(file('qemu.pid'))!;
    process.kill(before, 'SIGKILL');
    const t0 = Date.now();
    const took = await engineBack(t0, 120000, 'the engine after kill -9 of QEMU');
    console.log(
      `[heal] kill -9 of QEMU: docker answered again after ${took} s (${RESTART_DELAY_MS / 1000} s back-off + a cold boot)`,
    );
    const st = await status();
    expect(st.qemuPid).not.toBe(before);
    expect(st.lastCrash?.text).toMatch(/^QEMU died without shutting the VM down/);
    expect(st.lastCrash?.restarts).toBe(1);
    expect((await docker(e, withData('cat', '/data/f'))).stdout).toBe('kept');
    expect(
      await waitFor(() => httpGet(PORT, '/index.html'), 30000, 'the published port after the restart'),
    ).toBe('served\n');
    expect((await berth(e, ['status', NAME])).stdout).toMatch(
      /crashed: .* \(QEMU died without shutting the VM down/,
    );
  });

  it("a kernel panic in the guest: reported in the kernel's words, and healed the same way", async () => {
    const before = pidFromFile(file('qemu.pid'));
    await berth(e, ['ssh', NAME, '--', 'sh', '-c', 'echo c > /proc/sysrq-trigger']);
    await waitFor(async () => pidFromFile(file('qemu.pid')) !== before, 60000, 'a new QEMU');
    const took = await engineBack(Date.now(), 120000, 'the engine after a kernel panic');
    console.log(`[heal] kernel panic: the engine answered ${took} s after the new QEMU started`);
    const st = await status();
    expect(st.lastCrash?.text).toMatch(/^the guest's kernel panicked \(sysrq triggered crash/);
    expect(st.lastCrash?.restarts).toBe(2);
  });

  it('a simulated host sleep (every berth process and QEMU stopped 20 s, past the SSH keepalive): docker, a port, a bind mount and file events work at once; the clock is right', async ({
    onTestFailed,
  }) => {
    onTestFailed(async () => {
      // What the agent and the watcher saw, for a failure seen only on CI.
      const log = await fsp.readFile(file('ha.log'), 'utf8').catch(() => '');
      console.log(`[heal] the agent's log, last 60 lines:\n${log.split('\n').slice(-60).join('\n')}`);
      console.log(`[heal] the watcher's output:\n${(await docker(e, ['logs', 'watcher'])).stdout}`);
    });
    await dockerOk(e, [
      'run',
      '-d',
      '--name',
      'watcher',
      '-v',
      `${shared}/w:/w`,
      'tools:heal',
      'inotify-watch',
      '/w',
    ]);
    const logs = async () => (await docker(e, ['logs', 'watcher'])).stdout;
    await waitFor(async () => (await logs()).includes('watching /w'), 10000, 'the watcher to start');
    await fsp.writeFile(path.join(shared, 'w', 'before-sleep.txt'), 'awake\n');
    await waitFor(
      async () => (await logs()).includes('/w/before-sleep.txt'),
      10000,
      'a file event before the sleep',
    );
    // Longer than the SSH keepalive's 15 s and the agent's 5 s wake gap; sleeps of minutes: npm run bench:soak.
    await simulateHostSleep(e, NAME, SLEEP_MS);
    const t0 = Date.now();
    await waitFor(async () => (await docker(e, ['version'])).code === 0, 10000, 'docker after wake', {
      intervalMs: 50,
    });
    const dockerS = seconds(t0);
    expect(await waitFor(() => httpGet(PORT, '/index.html'), 10000, 'the port after wake')).toBe('served\n');
    const portS = seconds(t0);
    await fsp.writeFile(path.join(shared, 'w', 'after-wake.txt'), 'awake\n');
    const bind = await docker(e, [
      'run',
      '--rm',
      '-v',
      `${shared}/w:/w`,
      'tools:heal',
      'cat',
      '/w/after-wake.txt',
    ]);
    expect(bind.stdout).toBe('awake');
    const bindS = seconds(t0);
    await waitFor(
      async () => (await logs()).includes('/w/after-wake.txt'),
      10000,
      'the file event after wake',
    );
    const eventS = seconds(t0);
    const offset = await guestClockBehind(e, NAME);
    console.log(
      `[heal] after a ${SLEEP_MS / 1000} s sleep: docker ${dockerS} s, port ${portS} s, bind mount ${bindS} s, file event ${eventS} s after wake; guest clock ${offset >= 0 ? 'behind' : 'ahead'} by ${Math.abs(offset).toFixed(3)} s`,
    );
    expect(Math.abs(offset)).toBeLessThan(0.5);
    await docker(e, ['rm', '-f', 'watcher']);
  }, 240000);

  it('a guest clock set wrong: doctor names it and --fix sets it; left alone, the agent sets it at its next check', async () => {
    const setBehind = () =>
      berthOk(e, ['ssh', NAME, '--', 'date', '-u', '-s', `@${Math.floor(Date.now() / 1000) - 100}`]);
    const clockLine = (out: string) => out.split('\n').find((l) => /^\S+ +clock /.test(l));
    expect(clockLine((await berthOk(e, ['doctor', NAME])).stdout)).toMatch(
      /^ok +clock +the guest clock is within/,
    );
    // The agent checks (and sets) the clock every USAGE_INTERVAL_MS itself: when it got there between the two
    // steps, doctor found the clock right and had nothing to fix, so the wrong clock is made again (a few
    // seconds' window in ten: five tries all lost to it would be one in thousands).
    let fixed: Awaited<ReturnType<typeof berth>> | undefined;
    for (let i = 0; i < 5 && !/fixed: set the guest clock/.test(fixed?.stderr ?? ''); i++) {
      await setBehind();
      fixed = await berth(e, ['doctor', NAME, '--fix']);
    }
    // A fix is made only for a clock doctor found off (its warning's words: src/instance/doctor.test.ts);
    // what it prints after the fix is the checks made again.
    expect(fixed!.stderr).toMatch(/fixed: set the guest clock from the host's \(now within \d+ ms\)/);
    expect(clockLine(fixed!.stdout)).toMatch(/^ok +clock +the guest clock is within \d+ ms/);
    expect(Math.abs(await guestClockBehind(e, NAME))).toBeLessThan(0.5);
    // Left alone: the agent finds it at its next measurement and says so.
    await setBehind();
    const t0 = Date.now();
    await waitFor(
      async () => Math.abs(await guestClockBehind(e, NAME)) < 0.5,
      USAGE_INTERVAL_MS + 10000,
      'the agent to set the clock',
      {
        intervalMs: 1000,
      },
    );
    console.log(`[heal] a guest clock 100 s behind: set by the agent ${seconds(t0)} s later`);
    expect((await berth(e, ['logs', NAME])).stdout).toMatch(
      /the guest clock was 10\d s behind the host's: set from it/,
    );
    expect((await berth(e, ['status', NAME])).stdout).toMatch(/^clock: +within \d+ ms of the host's$/m);
  }, 120000);

  it.skipIf(process.getuid?.() !== 0)(
    "the host's resolver changes (a VPN comes up): containers resolve through the new one, no restart",
    async () => {
      const resolver = await startTestResolver('127.0.0.53', 53, { 'vpn-only.berth-test': '10.9.8.7' });
      const saved = await fsp.readFile('/etc/resolv.conf', 'utf8');
      const lookup = async () =>
        (await docker(e, ['run', '--rm', 'tools:heal', 'nslookup', 'vpn-only.berth-test'])).stdout.includes(
          '10.9.8.7',
        );
      try {
        expect(await lookup()).toBe(false); // the old resolver does not know it
        // Written in place: /etc/resolv.conf may be a bind mount.
        await fsp.writeFile('/etc/resolv.conf', 'nameserver 127.0.0.53\n');
        const t0 = Date.now();
        await waitFor(lookup, 15000, 'the name from the new resolver', { intervalMs: 200 });
        console.log(
          `[heal] resolver change: a container resolved through the new resolver ${seconds(t0)} s later`,
        );
        expect(resolver.queries).toContain('vpn-only.berth-test');
      } finally {
        await fsp.writeFile('/etc/resolv.conf', saved);
        await resolver.close();
      }
    },
  );

  it("status shows the guest's disk and memory; 1 GiB written and deleted, and 1 GiB freed in the guest, go back to the host", async () => {
    const st = await berth(e, ['status', NAME]);
    expect(st.stdout).toMatch(
      /^in guest: disk \S+ \S+ used of \S+ \S+ \(\S+ \S+ free\), memory \S+ \S+ used of \S+ \S+$/m,
    );
    expect(st.stdout).toMatch(/^on host: disks use .*, the VM holds .* of memory/m);
    const used = () => fs.statSync(file('data.qcow2')).blocks * 512;
    const MiB = 1024 ** 2;
    // Disk: online discard hands freed blocks back (qcow2 punches holes in its file).
    const d0 = used();
    await dockerOk(e, withData('dd', 'if=/dev/zero', 'of=/data/g', 'bs=1M', 'count=1024', 'conv=fsync'));
    const d1 = used();
    expect(d1 - d0).toBeGreaterThan(900 * MiB);
    await dockerOk(e, withData('sh', '-c', 'rm /data/g && sync'));
    let t0 = Date.now();
    await waitFor(async () => d1 - used() >= 0.9 * 1024 * MiB, 60000, 'the host file to shrink', {
      intervalMs: 1000,
    });
    console.log(
      `[heal] disk: data.qcow2 ${(d0 / MiB).toFixed(0)} → ${(d1 / MiB).toFixed(0)} → ${(used() / MiB).toFixed(0)} MiB on the host, ${seconds(t0)} s after the delete`,
    );
    // Memory: free page reporting hands what the guest frees back to the host.
    const qemu = pidFromFile(file('qemu.pid'));
    const m0 = rssKiB(qemu)! * 1024;
    await berthOk(e, [
      'ssh',
      NAME,
      '--',
      'sh',
      '-c',
      'mkdir -p /run/fill && mount -t tmpfs -o size=1100m tmpfs /run/fill && dd if=/dev/zero of=/run/fill/f bs=1M count=1024 2>/dev/null',
    ]);
    const m1 = rssKiB(qemu)! * 1024;
    // Some of it may have been resident already (memory the guest touched before and has not handed back).
    expect(m1).toBeGreaterThan(1024 * MiB);
    await berthOk(e, ['ssh', NAME, '--', 'sh', '-c', 'rm /run/fill/f && umount /run/fill']);
    t0 = Date.now();
    await waitFor(
      async () => m1 - rssKiB(qemu)! * 1024 >= 0.75 * 1024 * MiB,
      60000,
      'QEMU to give the memory back',
      { intervalMs: 1000 },
    );
    console.log(
      `[heal] memory: QEMU RSS ${(m0 / MiB).toFixed(0)} → ${(m1 / MiB).toFixed(0)} → ${((rssKiB(qemu)! * 1024) / MiB).toFixed(0)} MiB, ${seconds(t0)} s after the guest freed 1 GiB`,
    );
  }, 240000);

  it.skipIf(process.getuid?.() !== 0)(
    'a full host disk pauses the VM and status says so; with space back it goes on by itself and no write is lost',
    async () => {
      expect(fsDir, 'BERTH_HOME on a tmpfs').toBeDefined();
      const st = await fsp.statfs(fsDir!);
      const free = st.bavail * st.bsize;
      const ballast = path.join(fsDir!, 'ballast');
      await execa('fallocate', ['-l', String(free - 120 * 1024 ** 2), ballast]); // leaves 120 MiB
      const size = 300_000_000;
      const want = createHash('sha256').update(Buffer.alloc(size, 'x')).digest('hex');
      // Detached, so no client stream has to outlive the pause.
      const id = (
        await dockerOk(e, [
          'run',
          '-d',
          '-v',
          'healdata:/data',
          'tools:heal',
          'sh',
          '-c',
          `head -c ${size} /dev/zero | tr '\\0' x > /data/big && sync && sha256sum /data/big`,
        ])
      ).stdout.trim();
      try {
        const paused = await waitFor(
          async () => {
            const s = await status();
            return s.status === 'Paused' ? s : undefined;
          },
          120000,
          'the VM paused on the full disk',
        ).catch(async (err: unknown) => {
          // Seen once in CI (not reproduced): what the VM, the container and the host's disk were doing.
          const left = await fsp.statfs(fsDir!);
          console.log(
            `[heal] full disk: ${Math.round((left.bavail * left.bsize) / 1024 ** 2)} MiB free on the tmpfs`,
          );
          for (const f of ['disk.qcow2', 'data.qcow2'])
            console.log(
              `[heal] ${f}: ${fs.statSync(file(f), { throwIfNoEntry: false })?.blocks ?? 0} blocks`,
            );
          console.log(`[heal] status: ${JSON.stringify(await status().catch(() => undefined))}`);
          const c = await docker(e, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', id]);
          console.log(`[heal] the container: ${c.stdout.trim()} ${c.stderr.trim()}`);
          console.log(`[heal] its output: ${(await docker(e, ['logs', '--tail', '5', id])).stderr.trim()}`);
          await printInstanceLogs(e, NAME);
          throw err;
        });
        expect(paused.error).toMatch(/^paused: host disk full \(\d+ MiB free where disk\.qcow2 lives\)$/);
        expect((await berth(e, ['logs', NAME])).stdout).toMatch(/paused: host disk full/);
        const d = await berth(e, ['doctor', NAME]);
        expect(d.code).toBe(1);
        expect(d.stdout).toMatch(/FAIL {2}vm +paused: host disk full/);
        expect(d.stdout).toMatch(/fix: free space on the filesystem of .*: the VM goes on by itself/);
      } finally {
        await fsp.rm(ballast, { force: true });
      }
      const t0 = Date.now();
      await waitFor(async () => (await status()).status === 'Running', 30000, 'the VM to go on');
      console.log(`[heal] host disk full: the VM went on ${seconds(t0)} s after space came back`);
      expect((await docker(e, ['wait', id])).stdout.trim()).toBe('0');
      expect((await docker(e, ['logs', id])).stdout).toContain(want);
      await docker(e, ['rm', id]);
      await dockerOk(e, withData('rm', '/data/big'));
    },
    240000,
  );

  it('a guest that cannot boot (panics at every boot) ends in CrashLoop, not for ever; berth start after the fix runs it', async () => {
    // An empty OS disk: the initrd finds no root file system and its exit panics the kernel, at every boot.
    await fsp.rename(file('disk.qcow2'), file('disk.qcow2.keep'));
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', file('disk.qcow2'), '10G']);
    process.kill(pidFromFile(file('qemu.pid'))!, 'SIGKILL');
    const t0 = Date.now();
    const st = await waitFor(
      async () => {
        const s = await status();
        return s.status === 'CrashLoop' ? s : undefined;
      },
      240000,
      'CrashLoop',
      { intervalMs: 1000 },
    );
    // The agent is on its way out (its last event is read by followers first): then nothing is left.
    await waitFor(async () => !fs.existsSync(file('ha.sock')), 10000, 'the host agent to leave');
    console.log(`[heal] a VM that panics at every boot: CrashLoop after ${seconds(t0)} s`);
    expect(st.lastCrash?.restarts).toBe(4);
    expect(st.error).toMatch(/^crash loop: the VM kept ending .* "berth start heal" tries again$/);
    expect(pidFromFile(file('qemu.pid'))).toBeUndefined();
    const text = await berth(e, ['status', NAME]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/status: +CrashLoop/);
    // doctor names the crash loop, and the docker context left pointing at the dead socket, which --fix undoes.
    const d = await berth(e, ['doctor', NAME]);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/FAIL {2}vm +crash loop: the VM kept ending/);
    expect(d.stdout).toMatch(
      /warn {2}context +the current docker context "berth-heal" points at this instance/,
    );
    const fixed = await berth(e, ['doctor', NAME, '--fix']);
    expect(fixed.stderr).toMatch(/fixed: docker context: switched to "default"/);
    expect((await execa('docker', ['context', 'show'], { env: e.env })).stdout.trim()).toBe('default');

    // A start by the user while the disk is still broken: the first panic is booted once more (a guest kernel
    // under TCG now and then panics for nothing), the second ends the start with the panic's words.
    const broken = await berth(e, ['start', NAME]);
    expect(broken.code, broken.stderr).toBe(71);
    expect(broken.stderr).toMatch(
      /notice: the guest's kernel panicked \(Attempted to kill init!.*\) while it booted: booting it once more/,
    );
    expect(broken.stderr).toMatch(
      /error: the host agent stopped before the instance was ready: the guest's kernel panicked \(Attempted to kill init!/,
    );
    expect(noStackTrace(broken.stderr)).toBe(true);

    await fsp.rename(file('disk.qcow2.keep'), file('disk.qcow2'));
    if (systemSocket) expect(fs.existsSync(SYSTEM_SOCKET)).toBe(false); // the agent that gave up unlinked it
    await berthOk(e, ['start', NAME]);
    const after = await status();
    expect(after.status).toBe('Running');
    expect(after.lastCrash?.restarts).toBe(0); // a start by the user clears the count
    expect((await docker(e, withData('cat', '/data/f'))).stdout).toBe('kept');
    expect((await execa('docker', ['context', 'show'], { env: e.env })).stdout.trim()).toBe('berth-heal');
  }, 360000);

  it.skipIf(process.getuid?.() !== 0)(
    'systemSocket: true links /var/run/docker.sock to the instance while it runs: an SDK with no settings finds the engine',
    async () => {
      expect(systemSocket, 'a host with its own /var/run/docker.sock').toBe(true);
      expect(fs.readlinkSync(SYSTEM_SOCKET)).toBe(file('docker.sock'));
      expect((await berth(e, ['status', NAME])).stdout).toMatch(
        /^system socket: \/var\/run\/docker\.sock points at this instance$/m,
      );
      // dockerode's default (what many tools use): no context, no DOCKER_HOST.
      const sdk = new Docker({ socketPath: SYSTEM_SOCKET });
      const v = await sdk.version();
      expect(Number(v.Version.split('.')[0])).toBeGreaterThanOrEqual(28);
      expect((await sdk.listVolumes()).Volumes.map((x) => x.Name)).toContain('healdata');
      await berthOk(e, ['stop', NAME]);
      expect(fs.existsSync(SYSTEM_SOCKET) || isLink(SYSTEM_SOCKET)).toBe(false);
    },
  );

  it('autostart: with no systemd here, an XDG autostart entry whose command starts the instance; disable removes it', async () => {
    await berth(e, ['stop', NAME]);
    const en = await berthOk(e, ['autostart', 'enable', NAME]);
    expect(en.stdout).toMatch(/XDG autostart/);
    const entry = path.join(e.root, 'config', 'autostart', `berth-${NAME}.desktop`);
    const exec = /^Exec=(.*)$/m.exec(await fsp.readFile(entry, 'utf8'))![1]!;
    expect((await berth(e, ['autostart', 'status', NAME])).stdout).toBe(`XDG autostart: ${entry}`);
    // What the desktop session does at login: run the Exec line (its quoting is the shell's double quotes).
    const login = await execa('sh', ['-c', exec], {
      // A login session's environment (as root, CI also needs berth's consent; docker's config stays the test's).
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        BERTH_ALLOW_ROOT: '1',
        DOCKER_CONFIG: e.dockerConfig,
      },
      extendEnv: false,
      reject: false,
    });
    expect(login.exitCode, login.stderr).toBe(0);
    expect((await status()).status).toBe('Running');
    await berthOk(e, ['autostart', 'disable', NAME]);
    expect(fs.existsSync(entry)).toBe(false);
    const st = await berth(e, ['autostart', 'status', NAME]);
    expect(st.code).toBe(1);
    expect(st.stdout).toMatch(/does not start at login/);
  });
});
