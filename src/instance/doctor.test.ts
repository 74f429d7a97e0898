import { describe, expect, it } from 'vitest';
import { evaluate, type DoctorFacts } from './doctor.js';

const GiB = 1024 ** 3;
const pid = (file: string, p?: number, alive = false) => ({ file, pid: p, alive });

function healthy(): DoctorFacts {
  return {
    name: 'default',
    cliAvailable: true,
    cli: 'docker',
    contextNoun: 'docker context',
    contextName: 'berth',
    currentContext: 'berth',
    accel: 'kvm',
    pids: {
      agent: pid('/b/ha.pid', 10, true),
      supervisor: pid('/b/ha-supervisor.pid', 9, true),
      qemu: pid('/b/qemu.pid', 11, true),
      startLock: pid('/b/start.lock'),
    },
    sockets: {
      engine: { file: '/b/docker.sock', exists: true },
      agent: { file: '/b/ha.sock', exists: true },
    },
    engineAnswers: true,
    env: {},
    socket: '/b/docker.sock',
    diskFreeBytes: 50 * GiB,
    diskDir: '/b',
    toolsMissing: [],
    imageWarning: '',
    clock: { offsetMs: 12, uncertaintyMs: 3, at: 'now' },
  };
}
const verdicts = (f: DoctorFacts) => Object.fromEntries(evaluate(f).map((c) => [c.id, c.verdict]));

describe('berth doctor: evaluate', () => {
  it('a healthy running instance: every check ok', () => {
    expect(Object.values(verdicts(healthy())).every((v) => v === 'ok')).toBe(true);
  });

  it('the VM runs with no agent and no supervisor: fail, fixed by berth start (re-attach)', () => {
    const f = healthy();
    f.pids.agent = pid('/b/ha.pid', 10, false);
    f.pids.supervisor = pid('/b/ha-supervisor.pid', 9, false);
    const agent = evaluate(f).find((c) => c.id === 'agent')!;
    expect(agent).toMatchObject({ verdict: 'fail' });
    expect(agent.fix).toMatch(/^berth start/);
    // The dead agent's pid files are stale; the sockets are not removed while the VM still runs.
    const stale = evaluate(f).find((c) => c.id === 'stale-files')!;
    expect(stale.auto).toEqual({ kind: 'remove-stale', files: ['/b/ha.pid', '/b/ha-supervisor.pid'] });
  });

  it('a stopped instance with leftovers: stale pid files, lock and sockets, and a context at a dead socket', () => {
    const f = healthy();
    f.pids = {
      agent: pid('/b/ha.pid', 10),
      supervisor: pid('/b/ha-supervisor.pid'),
      qemu: pid('/b/qemu.pid', 11),
      startLock: pid('/b/start.lock', 12),
    };
    f.engineAnswers = undefined;
    const checks = evaluate(f);
    expect(checks.find((c) => c.id === 'stale-files')?.auto).toEqual({
      kind: 'remove-stale',
      files: ['/b/ha.pid', '/b/qemu.pid', '/b/start.lock', '/b/docker.sock', '/b/ha.sock'],
    });
    expect(checks.find((c) => c.id === 'context')).toMatchObject({
      verdict: 'warn',
      auto: { kind: 'context-default' },
    });
    expect(checks.find((c) => c.id === 'engine')).toBeUndefined();
  });

  it('which socket am I using: DOCKER_HOST elsewhere or DOCKER_CONTEXT override the context', () => {
    const f = healthy();
    f.env = { DOCKER_HOST: 'unix:///var/run/docker.sock' };
    expect(evaluate(f).find((c) => c.id === 'environment')?.message).toMatch(
      /talks to that, not to this instance/,
    );
    f.env = { DOCKER_HOST: 'unix:///b/docker.sock' };
    expect(verdicts(f).environment).toBe('ok');
    f.env = { DOCKER_CONTEXT: 'desktop-linux' };
    expect(evaluate(f).find((c) => c.id === 'environment')).toMatchObject({
      verdict: 'warn',
      fix: 'unset DOCKER_CONTEXT',
    });
  });

  it('host disk, accelerator, CLI, hypervisor and an engine that does not answer', () => {
    const f = healthy();
    f.diskFreeBytes = 1 * GiB;
    f.accel = 'tcg';
    f.cliAvailable = false;
    f.hypervisorProblem = 'qemu-system-x86_64 is missing (Debian package qemu-system-x86)';
    f.engineAnswers = false;
    expect(verdicts(f)).toMatchObject({
      'host-disk': 'warn',
      accelerator: 'warn',
      cli: 'warn',
      hypervisor: 'fail',
      engine: 'fail',
    });
    expect(verdicts({ ...f, diskFreeBytes: 0.1 * GiB })['host-disk']).toBe('fail');
    expect(verdicts({ ...f, accelWanted: 'tcg' }).accelerator).toBe('ok'); // asked for in berth.yaml
    // A /dev/kvm the user may not open: the fix names the group.
    const denied = evaluate({ ...f, kvmDenied: { group: 'kvm', user: 'ann' } }).find(
      (c) => c.id === 'accelerator',
    );
    expect(denied).toMatchObject({ verdict: 'warn', message: expect.stringMatching(/ann may not open it/) });
    expect(denied?.fix).toMatch(/sudo usermod -aG kvm ann/);
    expect(verdicts(f).context).toBeUndefined(); // no CLI: nothing to say about its context
  });

  it('missing CLI plugins and an image to move from: warnings with their commands', () => {
    const checks = evaluate({
      ...healthy(),
      toolsMissing: ['docker-compose'],
      imageWarning: 'the guest image is 45 days old (no security fixes since)',
    });
    expect(checks.find((c) => c.id === 'cli-plugins')).toMatchObject({
      verdict: 'warn',
      fix: 'berth cli install',
    });
    expect(checks.find((c) => c.id === 'image')).toMatchObject({
      verdict: 'warn',
      message: expect.stringMatching(/45 days old/),
      fix: 'berth start --upgrade',
    });
    expect(verdicts({ ...healthy(), imageWarning: undefined }).image).toBeUndefined(); // no image pinned yet
  });

  it('a guest clock off by more than 0.5 s: a warning, fixed by --fix; none from a guest that cannot say', () => {
    expect(evaluate(healthy()).find((c) => c.id === 'clock')).toMatchObject({
      verdict: 'ok',
      message: "the guest clock is within 12 ms of the host's (±3 ms)",
    });
    const behind = { ...healthy(), clock: { offsetMs: -100_400, uncertaintyMs: 4, at: 'now' } };
    expect(evaluate(behind).find((c) => c.id === 'clock')).toMatchObject({
      verdict: 'warn',
      message: expect.stringMatching(/^the guest clock is 100 s behind the host's \(±4 ms\)/),
      auto: { kind: 'clock-sync' },
    });
    expect(verdicts({ ...healthy(), clock: { offsetMs: 501, uncertaintyMs: 1, at: 'now' } }).clock).toBe(
      'warn',
    );
    expect(verdicts({ ...healthy(), clock: { offsetMs: 500, uncertaintyMs: 1, at: 'now' } }).clock).toBe(
      'ok',
    );
    expect(verdicts({ ...healthy(), clock: undefined }).clock).toBeUndefined();
  });

  it('a crash loop, a VM paused on a full host disk, a nearly full guest disk: each named with its fix', () => {
    const loop = { ...healthy(), crashLoop: 'QEMU died without shutting the VM down' };
    loop.pids.agent = pid('/b/ha.pid');
    loop.pids.qemu = pid('/b/qemu.pid');
    const vm = evaluate(loop).find((c) => c.id === 'vm')!;
    expect(vm).toMatchObject({ verdict: 'fail' });
    expect(vm.message).toMatch(/^crash loop: .*last: QEMU died/);
    expect(vm.fix).toBe("berth logs default (the guest's console says why); then berth start");

    const paused = { ...healthy(), paused: 'paused: host disk full (3 MiB free where disk.qcow2 lives)' };
    expect(evaluate(paused).find((c) => c.id === 'vm')).toMatchObject({
      verdict: 'fail',
      message: paused.paused,
      fix: 'free space on the filesystem of /b: the VM goes on by itself',
    });

    const full = { ...healthy(), guestDiskWarning: "the guest's disk is 95% full" };
    expect(evaluate(full).find((c) => c.id === 'guest-disk')).toMatchObject({
      verdict: 'warn',
      fix: 'docker system prune',
    });
    expect(evaluate(healthy()).find((c) => c.id === 'guest-disk')).toBeUndefined();
  });

  it('guest ports that could not be forwarded: a warning naming each, with the fix', () => {
    const f = {
      ...healthy(),
      portProblems: [
        {
          proto: 'tcp' as const,
          guestPort: 5432,
          guestBind: 'any' as const,
          hostIP: '127.0.0.1',
          hostPort: 5432,
          state: 'conflict' as const,
          reason: 'address in use',
        },
      ],
    };
    const c = evaluate(f).find((x) => x.id === 'ports')!;
    expect(c).toMatchObject({ verdict: 'warn' });
    expect(c.message).toBe(
      '1 guest port not forwarded: tcp 5432 → 127.0.0.1:5432 (conflict: address in use)',
    );
    expect(c.fix).toMatch(/portForwards rule/);
    expect(evaluate(healthy()).find((x) => x.id === 'ports')).toMatchObject({ verdict: 'ok' });
  });
});
