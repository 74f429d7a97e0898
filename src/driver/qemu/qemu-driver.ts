import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { BerthError } from '../../util/errors.js';
import { requireTool, run } from '../../util/exec.js';
import { shellQuote } from '../../util/shell-quote.js';
import { pidAlive, readPid, waitPidGone } from '../../store/instance-store.js';
import { retryUntil, systemClock } from '../../util/retry.js';
import type { Arch } from '../../config/schema.js';
import { hostArch } from '../../config/schema.js';
import { homeFile } from '../../store/paths.js';
import type {
  AccelRequest,
  Driver,
  DriverFeatures,
  HostForward,
  VmControl,
  VmSpec,
  VmEvent,
  VmState,
  VmWatch,
} from '../driver.js';
import {
  cachedProbe,
  decideAccel,
  hardwareAccelFor,
  kvmDenied,
  kvmDeviceUsable,
  needsProbe,
  probeHardwareAccel,
  type ConcreteAccel,
} from './accel-probe.js';
import { buildQemuArgs, DROP_ALL_CAPS, QEMU_BINARY, shareModel } from './args.js';
import { hmpFailure, hostfwdAddCommand, hostfwdRemoveCommand, parseUsernet } from './hostfwd.js';
import { QmpClient } from './qmp-client.js';
import { vmEventOf } from './qmp-events.js';
import { USER_NET } from './user-net.js';
import { mappedShareProblems } from './xattr-probe.js';
import { FILES, tempFile } from '../../store/filenames.js';
import path from 'node:path';

async function diskVirtualSize(disk: string): Promise<number> {
  const { stdout } = await run('qemu-img', ['info', '--output=json', '-U', disk]);
  return (JSON.parse(stdout) as { 'virtual-size': number })['virtual-size'];
}

export class QemuDriver implements Driver {
  readonly name = 'qemu';
  readonly features: DriverFeatures = {
    suspend: true,
    hostForwards: true,
    sharing: '9p',
    accelerators: ['kvm', 'hvf', 'tcg'],
  };
  readonly network = USER_NET;
  /** QMP serves one client at a time: forwarding changes from this process go one after another. */
  private hmpQueue: Promise<unknown> = Promise.resolve();

  private hmp(vm: VmControl, command: string): Promise<string> {
    const next = this.hmpQueue.then(async () => {
      const q = await QmpClient.connect(vm.controlSocket, 5000);
      try {
        return await q.execute<string>('human-monitor-command', { 'command-line': command });
      } finally {
        q.close();
      }
    });
    this.hmpQueue = next.catch(() => undefined);
    return next;
  }

  async listForwards(vm: VmControl): Promise<HostForward[]> {
    return parseUsernet(await this.hmp(vm, 'info usernet'));
  }

  async addForward(vm: VmControl, f: HostForward): Promise<void> {
    const failure = hmpFailure(await this.hmp(vm, hostfwdAddCommand(f)), 'add');
    if (failure) throw new BerthError('CONFLICT', failure);
  }

  async removeForward(vm: VmControl, f: Pick<HostForward, 'proto' | 'hostIP' | 'hostPort'>): Promise<void> {
    const failure = hmpFailure(await this.hmp(vm, hostfwdRemoveCommand(f)), 'remove');
    if (failure) throw new BerthError('CONFLICT', failure);
  }

  async checkHost(arch: Arch): Promise<void> {
    await requireTool(QEMU_BINARY[arch]);
  }

  /**
   * auto: KVM/HVF only if a probe boots the guest kernel under it within a deadline (a /dev/kvm that opens is
   * not enough: see accel-probe.ts), cached per QEMU binary and kernel; else TCG with a notice.
   */
  async chooseAccel(
    req: AccelRequest,
    progress: (m: string) => void,
  ): Promise<{ accel: ConcreteAccel; notice?: string }> {
    const facts = {
      platform: process.platform,
      hostArch: hostArch(),
      guestArch: req.arch,
      kvmDevice: process.platform === 'linux' && kvmDeviceUsable(),
      ...(process.platform === 'linux' ? { kvmDenied: kvmDenied() } : {}),
    };
    let probe: { ok: boolean; detail: string } | undefined;
    if (needsProbe(req.requested, facts)) {
      const hw = hardwareAccelFor(process.platform)!;
      const bin = await requireTool(QEMU_BINARY[req.arch]);
      const st = await fsp.stat(bin);
      progress(`checking that ${hw} works`);
      probe = await cachedProbe(homeFile('accelProbe'), `${hw}:${bin}:${st.mtimeMs}:${req.kernel}`, () =>
        probeHardwareAccel(req.arch, hw, req.kernel),
      );
    }
    return decideAccel(req.requested, { ...facts, probe });
  }

  async fingerprint(arch: Arch): Promise<string> {
    const bin = await requireTool(QEMU_BINARY[arch]);
    const st = await fsp.stat(bin);
    return `${bin}:${st.size}:${st.mtimeMs}`;
  }

  /** As root, writable shares on a filesystem without user xattrs (which mapped-xattr needs). */
  shareProblems(spec: VmSpec): Promise<string[]> {
    return mappedShareProblems(spec.shares, shareModel(spec));
  }

  async prepareDisk(spec: VmSpec, diskBytes: number): Promise<void> {
    await requireTool('qemu-img');
    // With a data disk the OS disk keeps the image's size: the size asked for is the data disk's.
    const sized = spec.dataDisk ? spec.dataDisk.file : spec.disk;
    if (!fs.existsSync(spec.disk))
      await createQcow2(spec.disk, spec.dataDisk ? undefined : diskBytes, spec.image.rootfs);
    else if (sized === spec.disk) await growQcow2(spec.disk, diskBytes);
    if (spec.dataDisk) {
      if (!fs.existsSync(spec.dataDisk.file)) await createQcow2(spec.dataDisk.file, diskBytes);
      else await growQcow2(spec.dataDisk.file, diskBytes);
    }
  }

  async flattenDisk(from: string, to: string): Promise<void> {
    await requireTool('qemu-img');
    const tmp = tempFile(to);
    try {
      // A standalone copy: the backing image's blocks too, so the old image can go.
      await run('qemu-img', ['convert', '-q', '-O', 'qcow2', from, tmp]);
      await fsp.chmod(tmp, 0o600);
      await fsp.rename(tmp, to);
    } finally {
      await fsp.rm(tmp, { force: true });
    }
  }

  async start(spec: VmSpec): Promise<{ pid: number }> {
    const bin = await requireTool(QEMU_BINARY[spec.arch]);
    // The console log is appended to: one boot per file (a resume goes on in the same one).
    const fresh = spec.incoming ? [] : [spec.serialLog];
    for (const f of [spec.controlSocket, spec.watchSocket, spec.eventSocket, spec.pidFile, ...fresh])
      await fsp.rm(f, { force: true });
    let args = buildQemuArgs(spec);
    let exe = bin;
    if (spec.asRoot) {
      // Root's QEMU holds no capability (DROP_ALL_CAPS). setpriv execs QEMU: the pid stays QEMU's.
      exe = await requireTool('setpriv');
      args = [...DROP_ALL_CAPS, bin, ...args];
    }
    const stderrFile = path.join(spec.dir, FILES.qemuStderr);
    const stderrFd = fs.openSync(stderrFile, 'w', 0o600);
    const child = spawn(exe, args, { detached: true, stdio: ['ignore', 'ignore', stderrFd] });
    fs.closeSync(stderrFd);
    child.unref();
    let exitCode: number | undefined;
    child.once('exit', (code, signal) => {
      exitCode = code ?? -1;
      // How it ended, after its own last words: a signal (SIGKILL from the host, SIGSYS from its seccomp
      // filter) leaves nothing on stderr otherwise. The agent reads this file's tail when the VM goes away.
      try {
        fs.appendFileSync(
          stderrFile,
          `[berth] QEMU ended: ${signal ? `signal ${signal}` : `exit code ${code}`}\n`,
        );
      } catch {
        // the instance folder is gone (deleted): nobody will read it
      }
    });
    // QEMU is running once its QMP socket answers (polled every 20 ms: QEMU is often up within 100 ms, and
    // a warm start waits on this).
    await retryUntil(
      async () => {
        if (exitCode !== undefined) {
          const err = await fsp.readFile(stderrFile, 'utf8').catch(() => '');
          throw new BerthError('VM_FAILED', `QEMU exited at once (code ${exitCode})`, {
            details: err.trim().split('\n').slice(-10).join('\n'),
          });
        }
        try {
          (await QmpClient.connect(spec.controlSocket, 2000)).close();
          return true;
        } catch {
          return false; // not up yet
        }
      },
      Boolean,
      {
        intervalMs: 20,
        timeoutMs: 15000,
        onTimeout: () => {
          child.kill('SIGKILL');
          throw new BerthError('TIMEOUT', 'QEMU started but its QMP socket never answered');
        },
      },
    );
    return { pid: child.pid! };
  }

  async saveState(vm: VmControl, file: string): Promise<number> {
    const q = await QmpClient.connect(vm.controlSocket, 5000);
    try {
      await q.execute('stop');
      try {
        // QEMU 7.2 throttles migration to 32 MiB/s by default: lift it, the target is a local file.
        await q.execute('migrate-set-parameters', { 'max-bandwidth': 64 * 1024 ** 3 });
        await q.execute('migrate', { uri: `exec:cat > ${shellQuote(file)}` });
        for (;;) {
          const st = await q.execute<{ status: string; 'error-desc'?: string }>('query-migrate');
          if (st.status === 'completed') break;
          if (st.status === 'failed' || st.status === 'cancelled') {
            throw new BerthError('VM_FAILED', `saving the VM state failed: ${st['error-desc'] ?? st.status}`);
          }
          await systemClock.sleep(50);
        }
      } catch (err) {
        // Whatever went wrong (QEMU refusing to migrate included), the VM runs on as it was.
        await q.execute('cont').catch(() => undefined);
        throw err instanceof BerthError
          ? err
          : new BerthError('VM_FAILED', `saving the VM state failed: ${(err as Error).message}`);
      }
    } finally {
      q.close();
    }
    return (await fsp.stat(file)).size;
  }

  async loadState(vm: VmControl, file: string): Promise<void> {
    const q = await QmpClient.connect(vm.controlSocket, 5000);
    try {
      await q.execute('migrate-incoming', { uri: `exec:cat ${shellQuote(file)}` });
      for (;;) {
        let st: { status: string; 'error-desc'?: string };
        try {
          st = await q.execute<{ status: string; 'error-desc'?: string }>('query-migrate');
        } catch (err) {
          throw new BerthError(
            'VM_FAILED',
            `the saved state could not be loaded (QEMU went away: ${(err as Error).message})`,
          );
        }
        if (st.status === 'completed') break;
        if (st.status === 'failed' || st.status === 'cancelled') {
          throw new BerthError(
            'VM_FAILED',
            `the saved state could not be loaded: ${st['error-desc'] ?? st.status}`,
          );
        }
        await systemClock.sleep(20);
      }
      await q.execute('cont');
    } finally {
      q.close();
    }
  }

  async state(spec: VmControl): Promise<VmState> {
    const pid = await readPid(spec.pidFile);
    if (!pidAlive(pid)) return 'stopped';
    try {
      const q = await QmpClient.connect(spec.controlSocket, 3000);
      try {
        const st = await q.execute<{ status: string }>('query-status');
        return st.status === 'running' ? 'running' : 'paused';
      } finally {
        q.close();
      }
    } catch {
      return 'running'; // the process is alive but QMP is busy: treat as running
    }
  }

  async watch(vm: VmControl, onEvent: (e: VmEvent) => void): Promise<VmWatch | undefined> {
    if (!vm.watchSocket || !fs.existsSync(vm.watchSocket)) return undefined; // a QEMU started by an older berth
    const q = await QmpClient.connect(vm.watchSocket, 5000);
    q.on('event', (msg: unknown) => {
      const e = vmEventOf(msg);
      if (e) onEvent(e);
    });
    const gone = new Promise<void>((resolve) => q.once('close', () => resolve()));
    return { gone, close: () => q.close() };
  }

  async resume(vm: VmControl): Promise<boolean> {
    try {
      const q = await QmpClient.connect(vm.controlSocket, 3000);
      try {
        await q.execute('cont');
        const st = await q.execute<{ status: string }>('query-status');
        return st.status === 'running';
      } finally {
        q.close();
      }
    } catch {
      return false;
    }
  }

  private async waitExit(spec: VmControl, pid: number | undefined, timeoutMs: number): Promise<boolean> {
    if (!(await waitPidGone(pid, timeoutMs, 200))) return false;
    await fsp.rm(spec.pidFile, { force: true });
    return true;
  }

  async shutdown(spec: VmControl, timeoutMs: number): Promise<boolean> {
    const pid = await readPid(spec.pidFile);
    if (!pidAlive(pid)) return true;
    try {
      const q = await QmpClient.connect(spec.controlSocket, 3000);
      try {
        await q.execute('system_powerdown');
      } finally {
        q.close();
      }
    } catch {
      // QMP unreachable: the caller falls back to kill()
      return false;
    }
    return this.waitExit(spec, pid, timeoutMs);
  }

  async killLeftovers(name: string, pids: number[]): Promise<void> {
    for (const pid of pids) {
      if (!pidAlive(pid)) continue;
      // QEMU runs with -name berth-NAME (args.ts).
      const cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (!cmdline.split('\0').includes(`berth-${name}`)) continue;
      process.kill(pid, 'SIGKILL');
      await waitPidGone(pid, 5000);
    }
  }

  async runsVm(vm: VmControl, pid: number | undefined): Promise<boolean> {
    return pidAlive(pid) && (await runsWith(pid!, vm.pidFile));
  }

  async kill(spec: VmControl): Promise<void> {
    const pid = await readPid(spec.pidFile);
    if (!pidAlive(pid)) return;
    // Signals go only to the QEMU that wrote this pid file (a stale file may name another process by now).
    if (!(await runsWith(pid!, spec.pidFile))) return;
    try {
      const q = await QmpClient.connect(spec.controlSocket, 2000);
      await q.execute('quit').catch(() => undefined); // the connection drops as QEMU exits
      q.close();
    } catch {
      process.kill(pid!, 'SIGTERM');
    }
    if (!(await this.waitExit(spec, pid, 5000))) {
      process.kill(pid!, 'SIGKILL');
      await this.waitExit(spec, pid, 5000);
    }
  }
}

/** Whether process `pid` has `arg` among its arguments (Linux /proc; elsewhere assumed). */
async function runsWith(pid: number, arg: string): Promise<boolean> {
  const cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return cmdline === undefined ? process.platform !== 'linux' : cmdline.split('\0').includes(arg);
}

/** A new qcow2 file, written under a temp name and renamed: a copy-on-write overlay when given a backing file. */
async function createQcow2(file: string, bytes: number | undefined, backing?: string): Promise<void> {
  const tmp = tempFile(file);
  const args = ['create', '-q', '-f', 'qcow2'];
  if (backing) args.push('-F', 'qcow2', '-b', backing);
  args.push(tmp);
  if (bytes !== undefined) args.push(String(bytes));
  await run('qemu-img', args);
  await fsp.chmod(tmp, 0o600);
  await fsp.rename(tmp, file);
}

/** Grows a disk to `bytes` (never shrinks: the guest's filesystem fills it). */
async function growQcow2(file: string, bytes: number): Promise<void> {
  if (bytes > (await diskVirtualSize(file))) await run('qemu-img', ['resize', '-q', file, String(bytes)]);
}
