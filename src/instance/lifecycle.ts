import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadInstanceConfig } from '../config/load.js';
import { resolveShares } from '../share/shares.js';
import {
  binfmtList,
  DOCKER_PLATFORM,
  hostArch,
  RESTART_WINDOW_MS,
  type InstanceConfig,
} from '../config/schema.js';
import { checkChange, newConfigText, updatedConfigText, type ConfigFlags } from '../config/write.js';
import { driverFor } from '../driver/drivers.js';
import { printable, readTail } from '../util/log-files.js';
import { runtimeFor } from '../runtime/runtimes.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import { agentStatus, agentStop, agentSuspend, followEvents } from '../agent-api/client.js';
import type { AgentEvent, AgentStatus, GuestClock, GuestUsage } from '../agent-api/events.js';
import {
  acquireLock,
  ensureHome,
  instanceExists,
  pidAlive,
  readPid,
  requireInstance,
  validateName,
  waitPidGone,
  writeFileAtomic,
} from '../store/instance-store.js';
import { instanceDir, instanceFile } from '../store/paths.js';
import { BerthError } from '../util/errors.js';
import { retryUntil } from '../util/retry.js';
import { controlSpecFor } from './vm-spec.js';
import { systemSocketState, unlinkSystemSocket, SYSTEM_SOCKET } from './system-socket.js';
import { readSavedState } from './saved-state.js';
import { diskLayout, imageAgeDays, upgradeNotice, type DiskLayout } from './upgrade.js';
import { loadImage } from '../image/cache.js';
import { crashRecord, instanceInfoRecord, runtimeRecord, type RuntimeState } from '../store/records.js';

/**
 * Paused: the hypervisor paused the running VM (a full host disk). CrashLoop: the VM kept crashing and its
 * restart policy gave up (crashes.json); the next start tries again.
 */
export type InstanceStatus =
  'Running' | 'Paused' | 'Starting' | 'Stopping' | 'Stopped' | 'Suspended' | 'Broken' | 'CrashLoop';

/**
 * Creates the instance (dir 0700 + YAML from defaults and flags) or applies flags to its YAML.
 * Everything is validated before anything is written.
 */
export async function prepareInstance(
  name: string,
  flags: ConfigFlags,
): Promise<{ config: InstanceConfig; created: boolean; changed: boolean }> {
  validateName(name);
  await ensureHome();
  const file = instanceFile(name, 'config');
  if (!(await instanceExists(name))) {
    const { text, config } = newConfigText(flags);
    resolveShares(config, file);
    const dir = instanceDir(name);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    await fsp.chmod(dir, 0o700);
    await instanceInfoRecord.write(name, {
      arch: config.arch,
      diskBytes: config.disk,
      createdAt: new Date().toISOString(),
    });
    await writeFileAtomic(file, text, 0o600);
    return { config, created: true, changed: false };
  }
  const text = await fsp.readFile(file, 'utf8');
  const { text: newText, after, changed } = updatedConfigText(text, file, flags);
  const info = await instanceInfoRecord.read(name);
  if (info) checkChange({ arch: info.arch, disk: info.diskBytes }, after, file);
  resolveShares(after, file); // shared folders must exist: a clear error here, not a failed boot
  if (changed) await writeFileAtomic(file, newText, 0o600);
  // A YAML written by hand before the first start: record the instance's fixed facts now.
  if (!info)
    await instanceInfoRecord.write(name, {
      arch: after.arch,
      diskBytes: after.disk,
      createdAt: new Date().toISOString(),
    });
  if (info && after.disk > info.diskBytes) {
    await instanceInfoRecord.write(name, { ...info, diskBytes: after.disk });
  }
  return { config: after, created: false, changed };
}

export interface InstanceView {
  name: string;
  status: InstanceStatus;
  arch: string;
  cpus: number;
  memory: number;
  disk: number;
  accel: string;
  /** How it runs: native/kvm, native/hvf, native/tcg (software), or emulated/tcg (foreign architecture). */
  runs: string;
  socket: string;
  sshPort?: number;
  agentPid?: number;
  qemuPid?: number;
  dir: string;
  /** A saved state from `berth suspend` that the next start resumes from. */
  savedState?: { sizeBytes: number; savedAt: string; usable: boolean };
  /** Platforms the running engine can run (native first); while stopped, what the config asks for. */
  platforms: string[];
  /**
   * The guest image the instance boots (pinned once it has a disk): id, build date, age, Debian suite, the
   * kernel's and the engine's versions; `layout`: where the engine's state is (upgrade.ts), `imageStore`:
   * Docker's image store; `warning` when it is old or a newer one is cached.
   */
  image?: {
    id: string;
    createdAt: string;
    ageDays: number;
    suite?: string;
    versions: Record<string, string>;
    layout: DiskLayout;
    imageStore?: string;
    warning?: string;
  };
  /**
   * What the instance holds on the host: the bytes its disks use (not their virtual size: qcow2 grows, and gives
   * back what the guest discards) and, while it runs, QEMU's resident memory.
   */
  host?: { osDiskBytes: number; dataDiskBytes: number; qemuRssBytes?: number };
  /** With `systemSocket: true`: whether Docker's default socket points at this instance, or what holds it. */
  systemSocket?: { path: string; state: string };
  /** What the running guest says of its disk (the engine's data) and memory. */
  guest?: GuestUsage;
  /** Set when the guest's disk is nearly full: what to do about it. */
  guestDiskWarning?: string;
  /** The guest clock's offset from the host's, as the agent last measured it (every 30 s). */
  guestClock?: GuestClock;
  /** The last time the VM ended on its own (a crash), and how many restarts the last 10 minutes saw. */
  lastCrash?: { at: string; text: string; restarts: number };
  error?: string;
}

/**
 * What the host agent said last before it went away: its last warnings and errors (ha.log) and the end of its
 * stderr (where a crash's stack goes), a few lines each, printable; undefined when there is nothing.
 */
export async function agentLastWords(name: string): Promise<string | undefined> {
  const tail = async (file: 'agentLog' | 'agentStdio') =>
    (await readTail(instanceFile(name, file), 16384).catch(() => undefined))?.text.split('\n') ?? [];
  const problems = (await tail('agentLog')).flatMap((line) => {
    try {
      const o = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      return (o.level ?? 0) >= 40 ? [`${o.msg ?? ''}${o.err?.message ? `: ${o.err.message}` : ''}`] : [];
    } catch {
      return [];
    }
  });
  const stderr = (await tail('agentStdio')).filter((l) => l.trim());
  const lines = [
    ...problems.slice(-3).map((l) => `agent log: ${l}`),
    ...stderr.slice(-6).map((l) => `agent stderr: ${l}`),
  ].map((l) => printable(l).slice(0, 300));
  return lines.length ? lines.join('\n') : undefined;
}

/** Bytes a file occupies on disk (blocks), 0 when absent. */
async function usedBytes(file: string): Promise<number> {
  const st = await fsp.stat(file).catch(() => undefined);
  return st ? st.blocks * 512 : 0;
}

/** A process's resident memory (Linux /proc), undefined elsewhere or when it is gone. */
async function rssBytes(pid: number | undefined): Promise<number | undefined> {
  if (!pid) return undefined;
  const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : undefined;
}

/**
 * The pinned image of an instance as `berth status` shows it (undefined before its first boot). Reads the
 * image cache and the guest tree (for the newest build's recipe): only for the commands that show it.
 */
export async function describeImage(name: string, cfg: InstanceConfig): Promise<InstanceView['image']> {
  const info = await instanceInfoRecord.read(name);
  const img = info?.imageDir ? await loadImage(info.imageDir).catch(() => undefined) : undefined;
  if (!img) return undefined;
  const layout = diskLayout(name);
  return {
    id: img.id,
    createdAt: img.manifest.createdAt,
    ageDays: imageAgeDays(img),
    suite: img.manifest.suite,
    versions: img.manifest.versions ?? { kernel: img.manifest.kernelVersion },
    layout,
    imageStore: info?.imageStore,
    warning: await upgradeNotice(name, img, layout, cfg),
  };
}

/**
 * One instance's state. `details` adds what only `berth status` shows (the image, what it holds on the host):
 * list, ssh, env and delete do without that I/O.
 */
export async function describeInstance(
  name: string,
  opts: { details?: boolean } = {},
): Promise<InstanceView> {
  await requireInstance(name);
  const cfg = await loadInstanceConfig(instanceFile(name, 'config'));
  const rt: RuntimeState | undefined = await runtimeRecord.read(name);
  const st = await agentStatus(instanceFile(name, 'agentSock'));
  const qemuPid = await readPid(instanceFile(name, 'qemuPid'));
  const qemuUp = pidAlive(qemuPid);
  let status: InstanceStatus;
  if (st?.phase === 'ready') status = st.paused ? 'Paused' : 'Running';
  else if (st?.phase === 'starting') status = 'Starting';
  else if (st?.phase === 'stopping') status = 'Stopping';
  // No agent while the VM runs: its supervisor is starting a new one (Starting), or nothing is (Broken).
  else if (qemuUp)
    status = pidAlive(await readPid(instanceFile(name, 'supervisorPid'))) ? 'Starting' : 'Broken';
  else status = 'Stopped';
  const saved = await readSavedState(name);
  if (status === 'Stopped' && saved) status = 'Suspended';
  const crashes = await crashRecord.read(name);
  if (status === 'Stopped' && crashes?.crashLoop) status = 'CrashLoop';
  return {
    name,
    status,
    arch: cfg.arch,
    cpus: cfg.cpus,
    memory: cfg.memory,
    disk: cfg.disk,
    accel: status === 'Stopped' ? cfg.accel : (rt?.accel ?? cfg.accel),
    runs: `${cfg.arch === hostArch() ? 'native' : 'emulated'}/${status === 'Stopped' || status === 'Suspended' ? cfg.accel : (rt?.accel ?? cfg.accel)}`,
    socket: instanceFile(name, 'dockerSock'),
    sshPort: qemuUp ? rt?.sshPort : undefined,
    agentPid: st?.pid,
    qemuPid: qemuUp ? qemuPid : undefined,
    dir: instanceDir(name),
    platforms:
      status === 'Running' && rt?.platforms
        ? rt.platforms
        : [DOCKER_PLATFORM[cfg.arch], ...binfmtList(cfg.arch, cfg.binfmt).map((a) => DOCKER_PLATFORM[a])],
    ...(opts.details
      ? {
          image: await describeImage(name, cfg),
          host: {
            osDiskBytes: await usedBytes(instanceFile(name, 'disk')),
            dataDiskBytes: await usedBytes(instanceFile(name, 'dataDisk')),
            qemuRssBytes: qemuUp ? await rssBytes(qemuPid) : undefined,
          },
        }
      : {}),
    savedState: saved
      ? { sizeBytes: Math.abs(saved.sizeBytes), savedAt: saved.savedAt, usable: saved.sizeBytes >= 0 }
      : undefined,
    ...(opts.details && cfg.systemSocket
      ? {
          systemSocket: {
            path: SYSTEM_SOCKET,
            state: await systemSocketState(instanceFile(name, 'dockerSock'))
              .then((s) => s.kind)
              .catch((err: unknown) => `unreadable (${(err as Error).message})`),
          },
        }
      : {}),
    ...(st?.guest ? { guest: st.guest, guestDiskWarning: guestDiskWarning(st.guest, name) } : {}),
    ...(st?.guestClock ? { guestClock: st.guestClock } : {}),
    ...(crashes?.last
      ? {
          lastCrash: {
            ...crashes.last,
            restarts: crashes.restarts.filter((t) => Date.now() - t < RESTART_WINDOW_MS).length,
          },
        }
      : {}),
    error:
      status === 'Broken'
        ? 'the VM runs but its host agent is gone; "berth start" re-attaches'
        : status === 'Paused'
          ? st?.paused
          : status === 'CrashLoop'
            ? `crash loop: the VM kept ending (last: ${crashes?.last?.text ?? 'unknown'}), and its restart policy gave up; "berth start ${name}" tries again`
            : status === 'Starting' && st?.error
              ? st.error
              : undefined,
  };
}

/** Pure: what to say when the guest's disk is 90 % full or more (undefined below that). */
export function guestDiskWarning(g: GuestUsage, name: string): string | undefined {
  if (g.diskBytes <= 0 || g.diskUsedBytes / g.diskBytes < 0.9) return undefined;
  const pct = Math.floor((100 * g.diskUsedBytes) / g.diskBytes);
  return `the guest's disk is ${pct}% full (${(g.diskFreeBytes / 1024 ** 3).toFixed(1)} GiB free): "docker system prune" frees what nothing uses, or grow it with "berth start ${name} --disk SIZE" (it grows, never shrinks)`;
}

/** The host agent runs under its supervisor (hostagent/supervisor.ts), which restarts it if it dies. */
function supervisorEntry(): string {
  return path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'hostagent', 'supervisor.js');
}

/** Starts the supervisor (and so the agent) detached: its own session, it outlives the CLI and the terminal. */
function spawnAgent(name: string, flags: { cold?: boolean; upgrade?: boolean }): number {
  const out = fs.openSync(instanceFile(name, 'agentStdio'), 'a', 0o600);
  const child = spawn(
    process.execPath,
    [supervisorEntry(), name, ...(flags.cold ? ['--cold'] : []), ...(flags.upgrade ? ['--upgrade'] : [])],
    {
      detached: true,
      stdio: ['ignore', out, out],
      env: process.env,
    },
  );
  fs.closeSync(out);
  child.unref();
  return child.pid!;
}

/** Waits for the agent that `supervisorPid` started (or restarted) to serve its API. */
async function waitForAgentSocket(
  name: string,
  supervisorPid: number,
  timeoutMs: number,
): Promise<AgentStatus> {
  const st = await retryUntil(
    async () => {
      if (!pidAlive(supervisorPid)) {
        throw new BerthError('INTERNAL', 'the host agent exited while starting', {
          details: await agentLastWords(name),
        });
      }
      return agentStatus(instanceFile(name, 'agentSock'), 1000);
    },
    (st) => st?.supervisorPid === supervisorPid,
    {
      intervalMs: 50,
      timeoutMs,
      onTimeout: () => {
        throw new BerthError('TIMEOUT', 'the host agent did not come up');
      },
    },
  );
  return st!;
}

export type StartResult =
  | { kind: 'already-running'; socket: string }
  | { kind: 'ready'; event: Extract<AgentEvent, { type: 'ready' }> };

/**
 * Starts (or re-attaches to) an instance and streams the agent's events until ready or failed.
 * Holds the instance's start lock throughout, so two starts of one instance never race.
 */
export async function startInstance(
  name: string,
  onEvent: (e: AgentEvent) => void,
  opts: { cold?: boolean; upgrade?: boolean } = {},
): Promise<StartResult> {
  await requireInstance(name);
  const release = await acquireLock(instanceFile(name, 'startLock'));
  try {
    const st = await agentStatus(instanceFile(name, 'agentSock'));
    if (st?.phase === 'ready') return { kind: 'already-running', socket: st.socket! };
    const supervisor = await readPid(instanceFile(name, 'supervisorPid'));
    // An agent is already booting it: follow along.
    let following = st?.phase === 'starting';
    if (!st && pidAlive(supervisor)) {
      // Its supervisor may be bringing a new agent up (the last one died): wait for it instead of starting a
      // second. A supervisor that exits meanwhile (its agent had stopped) leaves the start to us.
      const back = await waitForAgentSocket(name, supervisor!, 30000).catch(() => undefined);
      if (back?.phase === 'ready') return { kind: 'already-running', socket: back.socket! };
      following = back !== undefined;
    }
    if (!following) {
      // A start by the user is a new chance: a crash loop and its restart count are cleared (the last crash
      // stays on record for status).
      const crashes = await crashRecord.read(name);
      if (crashes?.crashLoop || crashes?.restarts.length)
        await crashRecord.write(name, { last: crashes.last, restarts: [] });
      if (st) await waitPidGone(st.pid, 30000);
      await waitPidGone(await readPid(instanceFile(name, 'supervisorPid')), 5000);
      await waitForAgentSocket(name, spawnAgent(name, opts), 15000);
    }
    const follow = () =>
      followEvents(
        instanceFile(name, 'agentSock'),
        onEvent,
        (e) => e.type === 'ready' || e.type === 'failed' || e.type === 'stopped',
      );
    let last = await follow();
    if (last === undefined) {
      // The agent went away mid-start (killed, crashed) while the VM runs: its supervisor starts a new one,
      // which re-attaches to the booting VM. Follow that one instead of failing a start that goes on.
      const supervisorPid = await readPid(instanceFile(name, 'supervisorPid'));
      const back = pidAlive(supervisorPid)
        ? await waitForAgentSocket(name, supervisorPid!, 30000).catch(() => undefined)
        : undefined;
      if (back) {
        const words = await agentLastWords(name);
        onEvent({
          type: 'notice',
          t: back.uptimeMs ?? 0,
          message: `the host agent went away during the start; its supervisor started a new one, which goes on${words ? ` (${words.split('\n')[0]})` : ''}`,
        });
        if (back.phase === 'ready') return { kind: 'already-running', socket: back.socket! };
        last = await follow();
      }
    }
    if (last?.type === 'ready') return { kind: 'ready', event: last };
    if (last?.type === 'failed') {
      throw new BerthError(last.code as ConstructorParameters<typeof BerthError>[0], last.message, {
        hint: last.hint ?? `see "berth logs ${name}"`,
        details: last.details,
      });
    }
    // A VM that ended while it booted: the agent's stop reason says how (killed, a reset, a power-off).
    const why = last?.type === 'stopped' && last.reason !== 'stopped' ? last.reason : undefined;
    throw new BerthError(
      'VM_FAILED',
      `the host agent stopped before the instance was ready${why ? `: ${why}` : ''}`,
      {
        hint: `see "berth logs ${name}"`,
        details: await agentLastWords(name),
      },
    );
  } finally {
    await release();
  }
}

export type StopResult = 'stopped' | 'already-stopped';

export async function stopInstance(
  name: string,
  force: boolean,
  onEvent: (e: AgentEvent) => void = () => undefined,
): Promise<StopResult> {
  await requireInstance(name);
  const agentSock = instanceFile(name, 'agentSock');
  const st = await agentStatus(agentSock);
  const ctl = controlSpecFor(name);
  const driver = driverFor();
  if (st) {
    const done = followEvents(agentSock, onEvent, (e) => e.type === 'stopped');
    await agentStop(agentSock, force);
    await done;
    await waitPidGone(st.pid, 90000);
    // Its supervisor leaves right after it: a start that follows at once must not find it still there.
    if (st.supervisorPid) await waitPidGone(st.supervisorPid, 10000);
    return 'stopped';
  }
  if (!pidAlive(await readPid(ctl.pidFile))) {
    await fsp.rm(instanceFile(name, 'dockerSock'), { force: true });
    return 'already-stopped';
  }
  // No agent (it crashed) but the VM runs: stop it directly.
  if (force || !(await driver.shutdown(ctl, 60000))) await driver.kill(ctl);
  await fsp.rm(instanceFile(name, 'dockerSock'), { force: true });
  return 'stopped';
}

export async function deleteInstance(name: string, force: boolean): Promise<void> {
  await requireInstance(name);
  const v = await describeInstance(name);
  if (v.status !== 'Stopped' && v.status !== 'Suspended') {
    if (!force) {
      throw new BerthError('CONFLICT', `instance "${name}" is ${v.status.toLowerCase()}`, {
        hint: `stop it first (berth stop ${name}) or use: berth delete ${name} --force`,
      });
    }
    await stopInstance(name, true);
  }
  await killLeftoverVm(name);
  await unlinkSystemSocket(instanceFile(name, 'dockerSock')).catch(() => undefined); // its agent normally did
  await fsp.rm(instanceDir(name), { recursive: true, force: true });
}

/**
 * Never a VM left running on a disk that is about to be deleted: once, in an e2e run, `delete --force` left
 * the instance's QEMU running after its agent reported it stopped (cause not found). The driver kills any
 * process named in the pid file or the runtime state that is still this instance's VM.
 */
async function killLeftoverVm(name: string): Promise<void> {
  const pids = [await readPid(instanceFile(name, 'qemuPid')), (await runtimeRecord.read(name))?.qemuPid];
  await driverFor().killLeftovers(
    name,
    [...new Set(pids)].filter((p): p is number => Boolean(p)),
  );
}

/** Saves the running VM's state to a file and stops it; the next start resumes from it. */
export async function suspendInstance(
  name: string,
  onEvent: (e: AgentEvent) => void = () => undefined,
): Promise<number> {
  await requireInstance(name);
  const agentSock = instanceFile(name, 'agentSock');
  const st = await agentStatus(agentSock);
  if (!st || st.phase !== 'ready') {
    throw new BerthError('CONFLICT', `instance "${name}" is not running`, {
      hint: 'only a running instance can be suspended',
    });
  }
  // The event stream replays the agent's history first: only events from now on count.
  const since = st.uptimeMs ?? Date.now() - Date.parse(st.startedAt);
  const done = followEvents(
    agentSock,
    (e) => e.t >= since && onEvent(e),
    (e) => e.t >= since && (e.type === 'stopped' || e.type === 'suspend-failed'),
  );
  await agentSuspend(agentSock);
  const last = await done;
  if (last?.type === 'suspend-failed') throw new BerthError('CONFLICT', last.message, { hint: last.hint });
  await waitPidGone(st.pid, 60000);
  if (st.supervisorPid) await waitPidGone(st.supervisorPid, 10000);
  const saved = await readSavedState(name);
  if (last?.type !== 'stopped' || !saved) {
    throw new BerthError('VM_FAILED', `suspending "${name}" failed`, { hint: `see "berth logs ${name}"` });
  }
  return saved.sizeBytes;
}

/** The container runtime an instance runs (its YAML's `runtime:`; Docker when the YAML cannot be read). */
export async function instanceRuntime(name: string): Promise<ContainerRuntime> {
  await requireInstance(name);
  const cfg = await loadInstanceConfig(instanceFile(name, 'config')).catch(() => undefined);
  return runtimeFor(cfg?.runtime ?? 'docker');
}
