import { execa } from 'execa';
import Docker from 'dockerode';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, docker, makeEnv, noStackTrace, type Env } from '../support/env.js';
import { busyboxContext } from '../support/images.js';
import { processesMatching } from '../support/proc.js';
import { waitFor } from '../support/wait.js';

// One real VM (TCG here) shared by the tests of this file, in a throwaway BERTH_HOME and DOCKER_CONFIG.
const NAME = 'e2e';
const CTX = `berth-${NAME}`;
let e: Env;
let sock: string;
let bbDir: string;

const qemuPids = () => processesMatching(`berth-${NAME} -machine`);

/** `berth status NAME --json`, the fields these tests read. */
interface StatusJson {
  status: string;
  agentPid?: number;
  qemuPid?: number;
  [k: string]: unknown;
}
const statusJson = async (): Promise<StatusJson> =>
  JSON.parse((await berth(e, ['status', NAME, '--json'])).stdout) as StatusJson;

describe('core: berth start → host docker CLI → Docker Engine in the VM', () => {
  beforeAll(async () => {
    e = await makeEnv('core', { ownPlugins: true }); // its first start installs compose and buildx
    bbDir = await busyboxContext();
    const r = await berth(e, ['start', NAME, '--cpus', '2', '--memory', '2GiB']);
    if (r.code !== 0) throw new Error(`berth start failed (${r.code}):\n${r.stderr}`);
    sock = path.join(e.home, NAME, 'docker.sock');
    expect(r.stdout.trim()).toBe(sock);
    expect(r.stderr).toMatch(/booting the VM/);
    expect(r.stderr).toMatch(/instance "e2e" is running/);
  });

  afterAll(async () => {
    if (!e) return;
    await berth(e, ['delete', NAME, '--force']);
  });

  it('serves the engine socket 0600 in a 0700 instance dir, and makes its context current', async () => {
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(e.home, NAME)).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(e.home, NAME, 'ssh_host_ed25519_key')).mode & 0o777).toBe(0o600);
    expect((await docker(e, ['context', 'show'])).stdout.trim()).toBe(CTX);
  });

  it('docker version works through the context and through DOCKER_HOST', async () => {
    const a = await docker(e, ['--context', CTX, 'version', '--format', '{{.Server.Os}}/{{.Server.Arch}}']);
    expect(a.code).toBe(0);
    expect(a.stdout.trim()).toBe('linux/amd64');
    const b = await docker(e, ['version', '--format', '{{.Server.Version}}'], {
      env: { ...e.env, DOCKER_HOST: `unix://${sock}` },
    });
    expect(b.code).toBe(0);
    expect(b.stdout.trim()).toMatch(/^\d+\.\d+/);
  });

  it('berth env: a shell that evals it reaches the engine without the context, whatever DOCKER_CONTEXT said', async () => {
    const env = await berth(e, ['env', NAME]);
    expect(env.code, env.stderr).toBe(0);
    expect(env.stdout).toContain(`export DOCKER_HOST=unix://${sock}`);
    const r = await execa(
      'sh',
      [
        '-c',
        `${env.stdout}\ndocker version --format '{{.Server.Os}}'; echo "[$TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE]"`,
      ],
      {
        env: { ...e.env, DOCKER_CONTEXT: 'no-such-context' },
        reject: false,
      },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('linux\n[/run/docker.sock]');
    expect(JSON.parse((await berth(e, ['env', NAME, '--json'])).stdout)).toMatchObject({
      DOCKER_HOST: `unix://${sock}`,
      DOCKER_CONTEXT: null,
    });
    const bad = await berth(e, ['env', NAME, '--shell', 'csh']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/--shell: "csh" is not one of sh, fish/);
  });

  it('docker build from local files (context upload), then docker run --rm echo', async () => {
    const b = await docker(e, ['build', '-t', 'bb:e2e', bbDir]);
    expect(b.code, b.stderr).toBe(0);
    const r = await docker(e, ['run', '--rm', 'bb:e2e', 'echo', 'hello from berth']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('hello from berth');
  });

  it('docker run -i passes stdin through a hijacked connection and half-close', async () => {
    const r = await docker(e, ['run', '--rm', '-i', 'bb:e2e', 'sh', '-c', 'cat; echo eof-seen'], {
      input: 'line1\nline2\n',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('line1\nline2\neof-seen');
  });

  it('docker logs -f sees lines written after it started following', async () => {
    const id = (
      await docker(e, [
        'run',
        '-d',
        'bb:e2e',
        'sh',
        '-c',
        'i=0; while true; do i=$((i+1)); echo tick $i; sleep 1; done',
      ])
    ).stdout.trim();
    const follower = execa('docker', ['logs', '-f', id], { env: e.env, extendEnv: false, reject: false });
    let seen = '';
    follower.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
    await waitFor(async () => /tick 1\n/.test(seen), 60000, 'first tick');
    const first = Number(/tick (\d+)/.exec(seen)![1]);
    await waitFor(async () => new RegExp(`tick ${first + 3}\\n`).test(seen), 60000, 'three more ticks');
    follower.kill();
    await docker(e, ['rm', '-f', id]);
  });

  it('docker exec -it gets a real pty (driven by script(1))', async () => {
    const id = (await docker(e, ['run', '-d', 'bb:e2e', 'sleep', '600'])).stdout.trim();
    const r = await execa(
      'script',
      ['-qec', `docker exec -it ${id} sh -c 'tty; test -t 0 && echo is-a-tty; exit 5'`, '/dev/null'],
      {
        env: e.env,
        extendEnv: false,
        reject: false,
        input: '',
      },
    );
    expect(r.exitCode).toBe(5);
    expect(String(r.stdout)).toMatch(/\/dev\/pts\/\d+/);
    expect(String(r.stdout)).toContain('is-a-tty');
    const typed = await execa('script', ['-qec', `docker exec -it ${id} sh`, '/dev/null'], {
      env: e.env,
      extendEnv: false,
      reject: false,
      input: 'echo sum=$((40+2))\nexit 7\n',
    });
    expect(typed.exitCode).toBe(7);
    expect(String(typed.stdout)).toContain('sum=42');
    await docker(e, ['rm', '-f', id]);
  });

  it("docker attach streams a running container's output", async () => {
    const id = (
      await docker(e, ['run', '-d', 'bb:e2e', 'sh', '-c', 'sleep 2; echo attached-output; sleep 1'])
    ).stdout.trim();
    const r = await docker(e, ['attach', '--no-stdin', id]);
    expect(r.stdout).toContain('attached-output');
    await docker(e, ['rm', '-f', id]);
  });

  it('dockerode: many concurrent clients and a container lifecycle', async () => {
    const d = new Docker({ socketPath: sock });
    const pings = await Promise.all(Array.from({ length: 50 }, () => d.ping()));
    expect(pings.map(String).every((p) => p === 'OK')).toBe(true);
    const c = await d.createContainer({ Image: 'bb:e2e', Cmd: ['sh', '-c', 'exit 4'] });
    await c.start();
    const res = (await c.wait()) as { StatusCode: number };
    expect(res.StatusCode).toBe(4);
    await c.remove();
  });

  it("berth ssh returns the command's exit code and output unchanged", async () => {
    const r = await berth(e, ['ssh', NAME, '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('out');
    expect(r.stderr).toBe('err');
    const u = await berth(e, ['ssh', NAME, '--', 'uname', '-m']);
    expect(u.stdout.trim()).toBe('x86_64');
  });

  it('list --json and status --json have the documented shape', async () => {
    const l = await berth(e, ['list', '--json']);
    const list = JSON.parse(l.stdout) as Array<Record<string, unknown>>;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      name: NAME,
      status: 'Running',
      arch: 'x86_64',
      cpus: 2,
      memory: 2 * 1024 ** 3,
      socket: sock,
    });
    expect(['tcg', 'kvm']).toContain(list[0]!.accel);
    expect(typeof list[0]!.disk).toBe('number');
    const s: Record<string, unknown> = await statusJson();
    expect(s).toMatchObject({ name: NAME, status: 'Running', socket: sock });
    const text = await berth(e, ['list']);
    expect(text.stdout).toMatch(/^NAME\s+STATUS\s+ARCH\s+CPUS\s+MEMORY\s+DISK\s+RUNS\s+SOCKET/);
  });

  it('start of a running instance is a no-op that says so', async () => {
    const before = await qemuPids();
    const r = await berth(e, ['start', NAME]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/already running/);
    expect(await qemuPids()).toEqual(before);
  });

  it('a named volume survives stop/start; stop of a stopped instance is harmless; racing starts boot one VM', async () => {
    const w = await docker(e, [
      'run',
      '--rm',
      '-v',
      'e2edata:/data',
      'bb:e2e',
      'sh',
      '-c',
      'echo persisted > /data/f && sync',
    ]);
    expect(w.code, w.stderr).toBe(0);
    const stop = await berth(e, ['stop', NAME]);
    expect(stop.code).toBe(0);
    expect(stop.stderr).toMatch(/stopped/);
    expect(stop.stderr).toMatch(/points at this stopped instance/);
    expect(fs.existsSync(sock)).toBe(false);
    expect(await qemuPids()).toEqual([]);
    const again = await berth(e, ['stop', NAME]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/is not running/);

    // Edits to the YAML apply at the next start: fewer CPUs, a bigger data disk (grown online in the guest).
    const cfgFile = path.join(e.home, NAME, 'berth.yaml');
    const yaml = await fsp.readFile(cfgFile, 'utf8');
    await fsp.writeFile(
      cfgFile,
      yaml
        .replace(/^cpus: .*$/m, 'cpus: 1')
        .replace(/^disk: .*$/m, 'disk: 70GiB')
        // This instance stays down when its VM dies (the kill -9 test below); heal.e2e covers on-failure.
        .replace(/^restart: .*$/m, 'restart: no'),
    );

    // Two starts at once: one boots, the other is refused clearly (never a second QEMU).
    const [a, b] = await Promise.all([berth(e, ['start', NAME]), berth(e, ['start', NAME])]);
    const codes = [a.code, b.code].sort();
    expect(codes[0]).toBe(0);
    const loser = a.code === 0 ? b : a;
    if (loser.code !== 0) {
      expect(loser.code).toBe(75);
      expect(loser.stderr).toMatch(/already working on this instance/);
    }
    expect(await qemuPids()).toHaveLength(1);
    const r = await docker(e, ['run', '--rm', '-v', 'e2edata:/data', 'bb:e2e', 'cat', '/data/f']);
    expect(r.stdout).toBe('persisted');
    expect((await docker(e, ['image', 'inspect', 'bb:e2e'])).code).toBe(0);
    expect((await docker(e, ['info', '--format', '{{.NCPU}}'])).stdout.trim()).toBe('1');
    // The size is the data disk's (the engine's state); the OS disk keeps the image's size.
    const df = await berth(e, ['ssh', NAME, '--', 'df', '-B1', '--output=size', '/var/lib/docker']);
    expect(Number(df.stdout.trim().split('\n').pop())).toBeGreaterThan(65 * 1024 ** 3);
    // shrinking is refused, and the file is left as it was
    const shrink = await berth(e, ['start', NAME, '--disk', '10GiB']);
    expect(shrink.code).toBe(65);
    expect(shrink.stderr).toMatch(/disk: .*can grow, not shrink/);
    expect(await fsp.readFile(cfgFile, 'utf8')).toMatch(/^disk: 70GiB$/m);
  });

  it('synced data survives kill -9 of QEMU; with restart: no the agent lets it stop, and the next start boots cleanly', async () => {
    const w = await docker(e, [
      'run',
      '--rm',
      '-v',
      'e2edata:/data',
      'bb:e2e',
      'sh',
      '-c',
      'echo survived-kill > /data/k && sync',
    ]);
    expect(w.code).toBe(0);
    const [pid] = await qemuPids();
    process.kill(pid!, 'SIGKILL');
    await waitFor(async () => (await statusJson()).status === 'Stopped', 30000, 'status Stopped');
    expect(fs.existsSync(sock)).toBe(false);
    expect((await berth(e, ['logs', NAME])).stdout).toMatch(
      /the VM ended: QEMU died without shutting the VM down \(killed, or it crashed\)/,
    );
    const s = await berth(e, ['start', NAME]);
    expect(s.code, s.stderr).toBe(0);
    const r = await docker(e, ['run', '--rm', '-v', 'e2edata:/data', 'bb:e2e', 'cat', '/data/k']);
    expect(r.stdout).toBe('survived-kill');
  });

  it('a killed host agent comes back by itself: the engine socket answers again, no reboot, no command', async () => {
    const id = (await docker(e, ['run', '-d', 'bb:e2e', 'sleep', '600'])).stdout.trim();
    // Clients attached through the socket when it dies: they may drop, but nothing in the engine is lost.
    const counter = (
      await docker(e, [
        'run',
        '-d',
        'bb:e2e',
        'sh',
        '-c',
        'i=0; while true; do i=$((i+1)); echo $i; sleep 1; done',
      ])
    ).stdout.trim();
    const follower = execa('docker', ['logs', '-f', counter], {
      env: e.env,
      extendEnv: false,
      reject: false,
    });
    // (Its process ignores stdin: docker closes an attached stdin when the client goes, as it does here.)
    const attached = execa('docker', ['run', '-i', '--name', 'attached', 'bb:e2e', 'sleep', '600'], {
      env: e.env,
      extendEnv: false,
      reject: false,
      stdin: 'pipe',
    });
    await waitFor(
      async () =>
        (await docker(e, ['inspect', '-f', '{{.State.Running}}', 'attached'])).stdout.trim() === 'true',
      20000,
      'the attached container',
    );
    const count = async () => Number((await docker(e, ['logs', '--tail', '1', counter])).stdout.trim());
    const before = await count();
    const st = await statusJson();
    process.kill(st.agentPid!, 'SIGKILL');
    const t0 = Date.now();
    await waitFor(async () => (await docker(e, ['version'])).code === 0, 30000, 'the engine socket', {
      intervalMs: 50,
    });
    console.log(
      `[core] kill -9 of the host agent: docker answered again after ${((Date.now() - t0) / 1000).toFixed(2)} s`,
    );
    // Nothing but waiting: its supervisor starts a new agent, which re-attaches.
    const back = await waitFor(
      async () => {
        const now = await statusJson();
        return now.status === 'Running' && now.agentPid !== st.agentPid && now;
      },
      30000,
      'a new host agent',
    );
    expect(back.agentPid).toBeGreaterThan(0);
    const after = await statusJson();
    expect(after.qemuPid).toBe(st.qemuPid);
    const ps = await docker(e, ['ps', '-q', '--no-trunc']);
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout).toContain(id);
    const logs = await berth(e, ['logs', NAME]);
    expect(logs.stdout).toMatch(/host agent killed by SIGKILL while the VM runs: starting a new one/);
    // The engine went on meanwhile: the counter counted on, the attached container still runs.
    await new Promise((r) => setTimeout(r, 2000));
    expect(await count()).toBeGreaterThan(before + 1);
    expect((await docker(e, ['inspect', '-f', '{{.State.Running}}', 'attached'])).stdout.trim()).toBe('true');
    follower.kill();
    attached.kill();
    await Promise.all([follower, attached]);
    await docker(e, ['rm', '-f', id, counter, 'attached']);
  });

  it('agent and supervisor both killed: status says Broken, and start re-attaches without a reboot', async () => {
    const st = await statusJson();
    const supervisor = Number(await fsp.readFile(path.join(e.home, NAME, 'ha-supervisor.pid'), 'utf8'));
    process.kill(supervisor, 'SIGKILL');
    process.kill(st.agentPid!, 'SIGKILL');
    await waitFor(async () => (await statusJson()).status === 'Broken', 10000, 'status Broken');
    const human = await berth(e, ['status', NAME]);
    expect(human.stdout).toMatch(/re-attaches/);
    // doctor names it, with the fix, and cleans the dead processes' pid files (not the sockets: the VM runs).
    const d = await berth(e, ['doctor', NAME]);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/FAIL {2}agent +the VM runs but no host agent serves it/);
    expect(d.stdout).toMatch(new RegExp(`fix: berth start ${NAME}`));
    const fixed = await berth(e, ['doctor', NAME, '--fix']);
    expect(fixed.stderr).toMatch(/fixed: removed .*ha\.pid/);
    expect(fs.existsSync(path.join(e.home, NAME, 'ha.pid'))).toBe(false);
    expect(fs.existsSync(sock)).toBe(true);
    const s = await berth(e, ['start', NAME]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/re-attaching/);
    const after = await statusJson();
    expect(after.qemuPid).toBe(st.qemuPid);
    expect((await docker(e, ['version'])).code).toBe(0);
  });

  it('berth doctor: a healthy instance passes (exit 0); DOCKER_HOST pointing elsewhere is named', async () => {
    const d = await berth(e, ['doctor', NAME, '--json']);
    expect(d.code, d.stdout).toBe(0);
    const checks = JSON.parse(d.stdout) as Array<{ id: string; verdict: string; message: string }>;
    // Under software emulation (these machines) the accelerator is a warning; everything else is ok.
    expect(checks.filter((c) => c.verdict !== 'ok' && c.id !== 'accelerator')).toEqual([]);
    expect(checks.find((c) => c.id === 'engine')?.message).toContain(sock);
    const other = await berth(e, ['doctor', NAME], {
      env: { ...e.env, DOCKER_HOST: 'unix:///var/run/docker.sock' },
    });
    expect(other.code).toBe(0);
    expect(other.stdout).toMatch(/warn {2}environment +DOCKER_HOST=unix:\/\/\/var\/run\/docker\.sock is set/);
  });

  it('logs shows the host agent log and the guest console', async () => {
    const r = await berth(e, ['logs', NAME]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/==> host agent/);
    expect(r.stdout).toMatch(/==> guest console/);
    expect(r.stdout).toMatch(/booting the VM/);
  });

  it('a second instance runs at the same time (its agent killed mid-start: the start goes on); delete refuses it running, --force removes everything', async () => {
    const starting = berth(e, ['start', 'two', '--cpus', '1', '--memory', '1GiB', '--no-activate']);
    // The host agent dies while the VM boots: its supervisor starts a new one, which the start follows.
    const agentPid = await waitFor(
      async () => {
        const st = JSON.parse((await berth(e, ['status', 'two', '--json'])).stdout || '{}') as {
          status?: string;
          agentPid?: number;
        };
        return st.status === 'Starting' && fs.existsSync(path.join(e.home, 'two', 'qemu.pid')) && st.agentPid;
      },
      30000,
      'the second instance booting',
      { intervalMs: 200 },
    );
    process.kill(agentPid, 'SIGKILL');
    const r = await starting;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/the host agent went away during the start; its supervisor started a new one/);
    expect((await docker(e, ['context', 'show'])).stdout.trim()).toBe(CTX);
    const v = await docker(e, ['--context', 'berth-two', 'info', '--format', '{{.NCPU}}']);
    expect(v.stdout.trim()).toBe('1');
    const list = JSON.parse((await berth(e, ['list', '--json'])).stdout) as Array<{
      name: string;
      status: string;
      socket: string;
    }>;
    expect(list.map((i) => `${i.name}:${i.status}`)).toEqual([`${NAME}:Running`, 'two:Running']);
    expect(new Set(list.map((i) => i.socket)).size).toBe(2);
    // the first instance is unaffected
    expect((await docker(e, ['run', '--rm', 'bb:e2e', 'true'])).code).toBe(0);

    const refused = await berth(e, ['delete', 'two']);
    expect(refused.code).toBe(75);
    expect(refused.stderr).toMatch(/--force/);
    expect(noStackTrace(refused.stderr)).toBe(true);
    const d = await berth(e, ['delete', 'two', '--force']);
    expect(d.code).toBe(0);
    expect(fs.existsSync(path.join(e.home, 'two'))).toBe(false);
    expect(await processesMatching('berth-two -machine')).toEqual([]);
    expect((await docker(e, ['context', 'inspect', 'berth-two'])).code).not.toBe(0);
  });

  it('delete --force of the current instance removes its dir and context and switches context away', async () => {
    const d = await berth(e, ['delete', NAME, '--force']);
    expect(d.code).toBe(0);
    expect(d.stderr).toMatch(/switched to "default"/);
    expect(fs.existsSync(path.join(e.home, NAME))).toBe(false);
    expect(await qemuPids()).toEqual([]);
    expect((await docker(e, ['context', 'show'])).stdout.trim()).toBe('default');
    expect(await fsp.readdir(e.home)).toEqual(['_config']);
  });
});
