import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { loadInstanceConfig } from '../config/load.js';
import { driverFor } from '../driver/drivers.js';
import { joinKvmGroup, kvmDenied } from '../driver/qemu/accel-probe.js';
import { pidAlive, readPid } from '../store/instance-store.js';
import { berthHome, instanceFile } from '../store/paths.js';
import { crashRecord, runtimeRecord } from '../store/records.js';
import { agentClock, agentPorts, agentStatus } from '../agent-api/client.js';
import { clockIsOff, formatOffset, type GuestClock } from '../agent-api/events.js';
import type { PortStatus } from '../agent-api/ports.js';
import type { InstanceConfig } from '../config/schema.js';
import { errorMessage } from '../util/errors.js';
import { describeImage, guestDiskWarning, instanceRuntime } from './lifecycle.js';

export type Verdict = 'ok' | 'warn' | 'fail';

/** What `--fix` may do by itself: only what cannot lose anything. */
export type AutoFix =
  { kind: 'remove-stale'; files: string[] } | { kind: 'context-default' } | { kind: 'clock-sync' };

export interface Check {
  id: string;
  verdict: Verdict;
  message: string;
  /** The command (or step) that fixes it. */
  fix?: string;
  auto?: AutoFix;
}

/** Everything the checks look at, gathered once (gatherFacts) so that evaluate() is pure and testable. */
export interface DoctorFacts {
  name: string;
  /** The hypervisor for the instance's arch: its problem, if any. */
  hypervisorProblem?: string;
  cliAvailable: boolean;
  cli: string;
  contextNoun: string;
  contextName: string;
  currentContext?: string;
  accel?: string;
  /** The accelerator berth.yaml asks for. */
  accelWanted?: string;
  /** /dev/kvm exists but this user may not open it (Linux). */
  kvmDenied?: { group: string; user: string };
  /** pid files: the pid each names and whether that process lives. */
  pids: Record<'agent' | 'supervisor' | 'qemu' | 'startLock', { file: string; pid?: number; alive: boolean }>;
  /** Sockets berth made that are still on disk. */
  sockets: Record<'engine' | 'agent', { file: string; exists: boolean }>;
  /** undefined when the instance is not running (nothing to ask). */
  engineAnswers?: boolean;
  env: { DOCKER_HOST?: string; DOCKER_CONTEXT?: string };
  socket: string;
  diskFreeBytes?: number;
  diskDir: string;
  /** The CLI's companions berth installs (compose, buildx) that the CLI cannot find. */
  toolsMissing?: string[];
  /** What `berth start` would say about the instance's image (old, a newer one cached, previous layout). */
  imageWarning?: string;
  /** Why the hypervisor paused the VM (a full host disk), as the agent says it. */
  paused?: string;
  /** The last crash, when the restart policy gave up on the VM (a crash loop). */
  crashLoop?: string;
  /** What status says when the guest's disk is nearly full. */
  guestDiskWarning?: string;
  /** The guest's listeners that could not be forwarded (host port taken, privileged, failed); running only. */
  portProblems?: PortStatus[];
  /** The guest clock against the host's, measured now; running instances whose guest can say (protocol 5). */
  clock?: GuestClock;
}

const GiB = 1024 ** 3;

/** Pure: the facts → one verdict per check, each with what fixes it. */
export function evaluate(f: DoctorFacts): Check[] {
  const checks: Check[] = [];
  const start = `berth start${f.name === 'default' ? '' : ` ${f.name}`}`;
  checks.push(
    f.hypervisorProblem
      ? {
          id: 'hypervisor',
          verdict: 'fail',
          message: f.hypervisorProblem,
          fix: 'install the package it names',
        }
      : { id: 'hypervisor', verdict: 'ok', message: 'the hypervisor is installed' },
  );
  checks.push(
    f.cliAvailable
      ? { id: 'cli', verdict: 'ok', message: `the ${f.cli} CLI is on PATH` }
      : {
          id: 'cli',
          verdict: 'warn',
          message: `no ${f.cli} CLI on PATH: only the socket works`,
          fix: `install it (Debian: apt-get install docker-cli or docker.io)`,
        },
  );
  if (f.accel === 'tcg' && f.accelWanted === 'tcg') {
    checks.push({
      id: 'accelerator',
      verdict: 'ok',
      message: 'software emulation (TCG), as berth.yaml asks',
    });
  } else if (f.accel === 'tcg' && f.kvmDenied) {
    checks.push({
      id: 'accelerator',
      verdict: 'warn',
      message: `software emulation (TCG): /dev/kvm exists but ${f.kvmDenied.user} may not open it`,
      fix: joinKvmGroup(f.kvmDenied),
    });
  } else if (f.accel === 'tcg') {
    checks.push({
      id: 'accelerator',
      verdict: 'warn',
      message: 'software emulation (TCG): no usable KVM/HVF here, so everything runs several times slower',
      fix: 'on a machine with working virtualisation, "accel: auto" picks it by itself',
    });
  } else if (f.accel) {
    checks.push({ id: 'accelerator', verdict: 'ok', message: `hardware acceleration (${f.accel})` });
  }

  const { agent, supervisor, qemu, startLock } = f.pids;
  const running = agent.alive && qemu.alive;
  if (qemu.alive && !agent.alive && !supervisor.alive) {
    checks.push({
      id: 'agent',
      verdict: 'fail',
      message: 'the VM runs but no host agent serves it (no engine socket, no port forwarding)',
      fix: `${start} (re-attaches without a reboot)`,
    });
  } else if (qemu.alive && !agent.alive) {
    checks.push({
      id: 'agent',
      verdict: 'warn',
      message: 'the host agent is being restarted by its supervisor',
    });
  } else if (running) {
    checks.push({
      id: 'agent',
      verdict: 'ok',
      message: `running (agent pid ${agent.pid}, QEMU pid ${qemu.pid})`,
    });
  } else {
    checks.push({ id: 'agent', verdict: 'ok', message: 'stopped' });
  }

  if (f.crashLoop) {
    checks.push({
      id: 'vm',
      verdict: 'fail',
      message: `crash loop: the VM kept ending (last: ${f.crashLoop}) and its restart policy gave up`,
      fix: `berth logs ${f.name} (the guest's console says why); then ${start}`,
    });
  } else if (f.paused) {
    checks.push({
      id: 'vm',
      verdict: 'fail',
      message: f.paused,
      fix: `free space on the filesystem of ${f.diskDir}: the VM goes on by itself`,
    });
  } else {
    checks.push({ id: 'vm', verdict: 'ok', message: running ? 'the VM runs' : 'no crash on record' });
  }
  if (f.portProblems?.length) {
    const list = f.portProblems
      .map(
        (p) =>
          `${p.proto} ${p.guestPort}${p.hostPort ? ` → ${p.hostIP ?? '127.0.0.1'}:${p.hostPort}` : ''} (${p.state}${p.reason ? `: ${p.reason}` : ''})`,
      )
      .join('; ');
    checks.push({
      id: 'ports',
      verdict: 'warn',
      message: `${f.portProblems.length} guest port${f.portProblems.length === 1 ? '' : 's'} not forwarded: ${list}`,
      fix: `free the host port, or map it elsewhere with a portForwards rule in berth.yaml (see berth ports ${f.name})`,
    });
  } else if (running) {
    checks.push({ id: 'ports', verdict: 'ok', message: 'every guest port berth forwards is forwarded' });
  }
  if (f.clock) {
    const off = Math.abs(f.clock.offsetMs);
    const bound = `±${f.clock.uncertaintyMs} ms`;
    checks.push(
      clockIsOff(f.clock)
        ? {
            id: 'clock',
            verdict: 'warn',
            message: `the guest clock is ${formatOffset(f.clock.offsetMs)} the host's (${bound}): containers see the wrong time, TLS and make may fail`,
            fix: "berth doctor --fix (sets it from the host's; the agent also does every 30 s)",
            auto: { kind: 'clock-sync' },
          }
        : {
            id: 'clock',
            verdict: 'ok',
            message: `the guest clock is within ${off} ms of the host's (${bound})`,
          },
    );
  }
  if (f.guestDiskWarning) {
    checks.push({
      id: 'guest-disk',
      verdict: 'warn',
      message: f.guestDiskWarning,
      fix: `${f.cli} system prune`,
    });
  }

  const stale = [agent, supervisor, qemu, startLock]
    .filter((p) => p.pid !== undefined && !p.alive)
    .map((p) => p.file);
  if (!agent.alive) {
    for (const s of [f.sockets.engine, f.sockets.agent]) if (s.exists && !qemu.alive) stale.push(s.file);
  }
  checks.push(
    stale.length > 0
      ? {
          id: 'stale-files',
          verdict: 'warn',
          message: `left behind by processes that are gone: ${stale.join(', ')}`,
          fix: 'berth doctor --fix (removes them)',
          auto: { kind: 'remove-stale', files: stale },
        }
      : { id: 'stale-files', verdict: 'ok', message: 'no stale pid files, locks or sockets' },
  );

  if (running && f.engineAnswers !== undefined) {
    checks.push(
      f.engineAnswers
        ? { id: 'engine', verdict: 'ok', message: `the engine answers on ${f.socket}` }
        : {
            id: 'engine',
            verdict: 'fail',
            message: `the engine does not answer on ${f.socket}`,
            fix: `berth logs ${f.name}; then berth restart ${f.name}`,
          },
    );
  }

  if (f.cliAvailable) {
    if (f.currentContext === f.contextName && !running) {
      checks.push({
        id: 'context',
        verdict: 'warn',
        message: `the current ${f.contextNoun} "${f.contextName}" points at this instance, which is not running`,
        fix: `${start}, or: ${f.cli} context use default (berth doctor --fix does the latter)`,
        auto: { kind: 'context-default' },
      });
    } else {
      checks.push({
        id: 'context',
        verdict: 'ok',
        message: `current ${f.contextNoun}: ${f.currentContext ?? '(unknown)'}${f.currentContext === f.contextName ? ' (this instance)' : ''}`,
      });
    }
  }

  // Which socket am I using? The environment overrides every context.
  const mine = `unix://${f.socket}`;
  if (f.env.DOCKER_HOST && f.env.DOCKER_HOST !== mine) {
    checks.push({
      id: 'environment',
      verdict: 'warn',
      message: `DOCKER_HOST=${f.env.DOCKER_HOST} is set: ${f.cli} talks to that, not to this instance (${mine})`,
      fix: `unset DOCKER_HOST, or: eval "$(berth env${f.name === 'default' ? '' : ` ${f.name}`})"`,
    });
  } else if (f.env.DOCKER_CONTEXT && f.env.DOCKER_CONTEXT !== f.contextName && !f.env.DOCKER_HOST) {
    checks.push({
      id: 'environment',
      verdict: 'warn',
      message: `DOCKER_CONTEXT=${f.env.DOCKER_CONTEXT} is set: ${f.cli} uses that context, not "${f.contextName}"`,
      fix: 'unset DOCKER_CONTEXT',
    });
  } else {
    checks.push({
      id: 'environment',
      verdict: 'ok',
      message: f.env.DOCKER_HOST
        ? `DOCKER_HOST points at this instance`
        : 'no DOCKER_HOST/DOCKER_CONTEXT overriding',
    });
  }

  if (f.toolsMissing !== undefined)
    checks.push(
      f.toolsMissing.length
        ? {
            id: 'cli-plugins',
            verdict: 'warn',
            message: `the ${f.cli} CLI has no ${f.toolsMissing.join(', ')}`,
            fix: 'berth cli install',
          }
        : { id: 'cli-plugins', verdict: 'ok', message: `the ${f.cli} CLI's plugins are there` },
    );
  if (f.imageWarning !== undefined)
    checks.push(
      f.imageWarning
        ? { id: 'image', verdict: 'warn', message: f.imageWarning, fix: `${start} --upgrade` }
        : { id: 'image', verdict: 'ok', message: 'the guest image is current' },
    );

  if (f.diskFreeBytes !== undefined) {
    const free = `${(f.diskFreeBytes / GiB).toFixed(1)} GiB free where ${f.diskDir} lives`;
    checks.push(
      f.diskFreeBytes < 0.5 * GiB
        ? {
            id: 'host-disk',
            verdict: 'fail',
            message: `${free}: the VM pauses when its disk cannot grow`,
            fix: 'free space on that filesystem',
          }
        : f.diskFreeBytes < 2 * GiB
          ? {
              id: 'host-disk',
              verdict: 'warn',
              message: `${free}: little room for the VM's disk to grow`,
              fix: 'free space on that filesystem',
            }
          : { id: 'host-disk', verdict: 'ok', message: free },
    );
  }
  return checks;
}

/** Reads what evaluate() needs, touching nothing. */
export async function gatherFacts(name: string, env: NodeJS.ProcessEnv = process.env): Promise<DoctorFacts> {
  const runtime = await instanceRuntime(name);
  // arch and accel for the checks below; a YAML that cannot be read is its own error at the next start.
  const cfg = await loadInstanceConfig(instanceFile(name, 'config')).catch(() => undefined);
  let hypervisorProblem: string | undefined;
  await driverFor()
    .checkHost(cfg?.arch ?? 'x86_64')
    .catch((err: unknown) => (hypervisorProblem = errorMessage(err)));
  const pid = async (key: 'agentPid' | 'supervisorPid' | 'qemuPid' | 'startLock') => {
    const file = instanceFile(name, key);
    const p = await readPid(file).catch(() => undefined);
    return { file, pid: p, alive: pidAlive(p) };
  };
  const pids = {
    agent: await pid('agentPid'),
    supervisor: await pid('supervisorPid'),
    qemu: await pid('qemuPid'),
    startLock: await pid('startLock'),
  };
  const socket = instanceFile(name, 'dockerSock');
  const cliAvailable = await runtime.host.available();
  const running = pids.agent.alive && pids.qemu.alive;
  const agentSt = running ? await agentStatus(instanceFile(name, 'agentSock'), 3000) : undefined;
  const crash = await crashRecord.read(name);
  let diskFreeBytes: number | undefined;
  try {
    const st = await fsp.statfs(berthHome());
    diskFreeBytes = st.bavail * st.bsize;
  } catch {
    diskFreeBytes = undefined; // statfs not available here: the check is left out
  }
  return {
    name,
    hypervisorProblem,
    cliAvailable,
    cli: runtime.host.cli,
    contextNoun: runtime.host.noun,
    contextName: runtime.host.name(name),
    currentContext: cliAvailable ? await runtime.host.current() : undefined,
    accel: (await runtimeRecord.read(name))?.accel,
    accelWanted: cfg?.accel,
    ...(process.platform === 'linux' ? { kvmDenied: kvmDenied() } : {}),
    pids,
    sockets: {
      engine: { file: socket, exists: fs.existsSync(socket) },
      agent: {
        file: instanceFile(name, 'agentSock'),
        exists: fs.existsSync(instanceFile(name, 'agentSock')),
      },
    },
    engineAnswers: running ? await runtime.ping(socket, 5000) : undefined,
    env: { DOCKER_HOST: env.DOCKER_HOST || undefined, DOCKER_CONTEXT: env.DOCKER_CONTEXT || undefined },
    socket,
    diskFreeBytes,
    diskDir: berthHome(),
    toolsMissing: cliAvailable && runtime.host.tools ? await runtime.host.tools.missing() : undefined,
    imageWarning: await imageWarning(name, cfg),
    paused: agentSt?.paused,
    crashLoop: crash?.crashLoop && !running ? (crash.last?.text ?? 'unknown') : undefined,
    guestDiskWarning: agentSt?.guest ? guestDiskWarning(agentSt.guest, name) : undefined,
    clock: running
      ? await agentClock(instanceFile(name, 'agentSock'), false).catch(() => undefined)
      : undefined,
    portProblems: running
      ? (await agentPorts(instanceFile(name, 'agentSock')).catch(() => [])).filter(
          (p) => p.state === 'conflict' || p.state === 'failed' || p.state === 'privileged',
        )
      : undefined,
  };
}

/** What status says of the pinned image; '' when there is nothing to say, undefined when no image yet. */
async function imageWarning(name: string, cfg: InstanceConfig | undefined): Promise<string | undefined> {
  const image = cfg ? await describeImage(name, cfg).catch(() => undefined) : undefined;
  return image ? (image.warning ?? '') : undefined;
}

/** Applies the safe fixes; returns what it did, one line each. */
export async function applyFixes(name: string, checks: Check[]): Promise<string[]> {
  const done: string[] = [];
  const runtime = await instanceRuntime(name);
  for (const c of checks) {
    if (c.auto?.kind === 'remove-stale') {
      for (const f of c.auto.files) {
        // Checked again right before: a process may have come up since the facts were read.
        const owner = await readPid(f).catch(() => undefined);
        if (owner !== undefined && pidAlive(owner)) continue;
        await fsp.rm(f, { force: true });
        done.push(`removed ${f}`);
      }
    } else if (c.auto?.kind === 'clock-sync') {
      const now = await agentClock(instanceFile(name, 'agentSock'), true).catch(() => undefined);
      if (now && !clockIsOff(now))
        done.push(`set the guest clock from the host's (now within ${Math.abs(now.offsetMs)} ms)`);
    } else if (c.auto?.kind === 'context-default') {
      if (await runtime.host.useDefault()) done.push(`${runtime.host.noun}: switched to "default"`);
    }
  }
  return done;
}
