import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { capLogFile, printable, readTail } from '../util/log-files.js';
import type { AgentPhase, AgentStatus } from '../agent-api/events.js';
import type { PortStatus } from '../agent-api/ports.js';
import type { Driver, VmControl } from '../driver/driver.js';
import { discardSavedState } from '../instance/saved-state.js';
import { controlSpecFor } from '../instance/vm-spec.js';
import { FILES } from '../store/filenames.js';
import { pidAlive } from '../store/instance-store.js';
import { instanceFile } from '../store/paths.js';
import { runtimeRecord, type RuntimeState } from '../store/records.js';
import { BerthError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { systemClock, type Clock } from '../util/retry.js';
import type { AgentApiHandlers } from './api-server.js';
import type { EventLog } from './event-log.js';
import type { LinkReady } from './guest-link.js';
import { saveVmState } from './suspend.js';
import type { Launch } from './vm-launcher.js';

/** The agent's view of a connected guest (GuestLink; a fake in host-agent.test.ts). */
/** Log files the guest can make grow: cut past `max` bytes, the last `keep` kept in FILE.1. */
export const LOG_CAPS = {
  serial: { max: 8 << 20, keep: 1 << 20 },
  agent: { max: 16 << 20, keep: 2 << 20 },
};

export interface Link {
  connect(): Promise<LinkReady>;
  startShareEvents(): Promise<void>;
  portList(): PortStatus[];
  readonly connected: boolean;
  unmountSharesForSuspend(): Promise<void>;
  afterFailedSuspend(): Promise<void>;
  flushGuest(): Promise<void>;
  close(): Promise<void>;
}

/** What the agent is given: it builds none of its collaborators, so a test can hand it fakes. */
export interface HostAgentDeps {
  name: string;
  log: Logger;
  events: EventLog;
  driver: Driver;
  /** The boot paths (VmLauncher): resolves with a running VM. */
  launch(): Promise<Launch>;
  /** Connects to the launched guest (GuestLink); `stopping` says when the agent is stopping or suspending. */
  link(launch: Launch, stopping: () => boolean): Link;
  /** Serves the agent API with these handlers. */
  serveApi(h: AgentApiHandlers): Promise<{ close(): void }>;
  /** Ends the agent process (tests record the code instead). */
  exit(code: number): void;
  clock?: Clock;
  /** How often the VM process is checked for (default 500 ms). */
  watchIntervalMs?: number;
  shutdownTimeoutMs?: number;
}

/**
 * The per-instance daemon's state machine: starting → ready → stopping → stopped, or → failed. It owns the
 * VM through the driver; QEMU runs in its own process group, so a crash of the agent leaves the VM (and its
 * data) alone and a new agent re-attaches.
 */
export class HostAgent {
  private phase: AgentPhase = 'starting';
  private readonly startedAt = new Date();
  private launched?: Launch;
  private link?: Link;
  private api?: { close(): void };
  private stopping = false;
  private error?: string;
  private readyAt?: Date;
  private watchTimer?: NodeJS.Timeout;
  private readonly clock: Clock;
  private readonly name: string;
  private readonly events: EventLog;
  private readonly driver: Driver;
  private readonly log: Logger;

  constructor(private readonly deps: HostAgentDeps) {
    this.clock = deps.clock ?? systemClock;
    this.name = deps.name;
    this.events = deps.events;
    this.driver = deps.driver;
    this.log = deps.log;
  }

  private get runtime(): RuntimeState | undefined {
    return this.launched?.runtime;
  }

  status(): AgentStatus {
    return {
      name: this.name,
      phase: this.phase,
      pid: process.pid,
      supervisorPid: Number(process.env.BERTH_SUPERVISOR_PID) || undefined,
      qemuPid: this.runtime?.qemuPid,
      accel: this.runtime?.accel,
      sshPort: this.runtime?.sshPort,
      socket: this.phase === 'ready' ? instanceFile(this.name, 'dockerSock') : undefined,
      startedAt: this.startedAt.toISOString(),
      readyAt: this.readyAt?.toISOString(),
      error: this.error,
      uptimeMs: this.events.elapsed(),
    };
  }

  async run(): Promise<void> {
    this.api = await this.deps.serveApi({
      status: () => this.status(),
      history: () => this.events.history(),
      subscribe: (fn) => this.events.subscribe(fn),
      ports: () => this.link?.portList() ?? [],
      stop: (force) => this.stop(force),
      suspend: () => this.suspend(),
    });
    try {
      await this.boot();
    } catch (err) {
      // Stopped while starting (a stop request, or the VM went away): finish() is already ending the agent.
      if (this.stopping) {
        this.log.warn({ err }, 'the start was cut short by a stop');
        return;
      }
      const e =
        err instanceof BerthError ? err : new BerthError('INTERNAL', errorMessage(err), { cause: err });
      this.log.error({ err }, 'start failed');
      this.error = e.message;
      this.phase = 'failed';
      const serialTail = await this.serialTail();
      this.events.emit({
        type: 'failed',
        code: e.code,
        message: e.message,
        hint: e.hint,
        details:
          [e.details, serialTail ? `--- last lines of ${FILES.serialLog} ---\n${serialTail}` : undefined]
            .filter(Boolean)
            .join('\n') || undefined,
      });
      await this.link?.close();
      if (this.launched) await this.driver.kill(this.launched.spec).catch(() => undefined); // best effort: we exit anyway
      await this.exit(1);
    }
  }

  private async serialTail(): Promise<string | undefined> {
    // The guest's words: bounded, and no terminal escapes.
    const { text } = await readTail(instanceFile(this.name, 'serialLog'), 64 * 1024);
    return printable(text).trimEnd().split('\n').slice(-15).join('\n') || undefined;
  }

  private async boot(): Promise<void> {
    const launch = await this.deps.launch();
    this.launched = launch;
    await runtimeRecord.write(this.name, launch.runtime);
    this.watchVm();
    this.link = this.deps.link(launch, () => this.stopping);
    const ready = await this.link.connect();
    launch.runtime = { ...launch.runtime, platforms: ready.platforms };
    await runtimeRecord.write(this.name, launch.runtime);
    if (this.stopping) return; // stopped while it connected: finish() ends the agent
    this.phase = 'ready';
    this.readyAt = new Date();
    void this.link.startShareEvents();
    this.events.emit({
      type: 'ready',
      socket: instanceFile(this.name, 'dockerSock'),
      elapsedMs: this.events.elapsed(),
      breakdown: { ...launch.breakdown, ...ready.breakdown },
      ...(ready.guestBoot ? { guestBoot: ready.guestBoot } : {}),
    });
  }

  /**
   * Suspend: flush the guest's dirty data to disk (so discarding the state later loses nothing synced),
   * save RAM + device state to a file, quit QEMU. The next start resumes from it. A refusal or failure is an
   * event ("suspend-failed"), and the instance keeps running.
   */
  async suspend(): Promise<void> {
    try {
      await this.suspendVm();
    } catch (err) {
      const e = err instanceof BerthError ? err : new BerthError('VM_FAILED', errorMessage(err));
      this.events.emit({ type: 'suspend-failed', message: e.message, hint: e.hint });
    }
  }

  private async suspendVm(): Promise<void> {
    const launch = this.launched;
    if (this.stopping || this.phase !== 'ready' || !launch || !this.link?.connected) {
      throw new BerthError('CONFLICT', `instance "${this.name}" is ${this.phase}, not running`);
    }
    if (!this.driver.features.suspend) {
      throw new BerthError('CONFLICT', `the ${this.driver.name} driver cannot suspend a VM`, {
        hint: `use "berth stop ${this.name}"`,
      });
    }
    await this.link.unmountSharesForSuspend();
    this.stopping = true;
    this.phase = 'stopping';
    const t = this.clock.now();
    this.events.progress('suspend', 'flushing guest buffers to disk');
    await this.link.flushGuest();
    this.events.progress('suspend', 'saving the VM state');
    try {
      const size = await saveVmState(this.driver, launch.spec, this.name, {
        fingerprint: launch.runtime.fingerprint ?? 'unknown',
        imageId: launch.runtime.imageId,
      });
      this.events.progress(
        'suspend',
        `saved ${(size / 1024 ** 2).toFixed(0)} MiB in ${((this.clock.now() - t) / 1000).toFixed(1)} s`,
      );
    } catch (err) {
      await discardSavedState(this.name);
      this.stopping = false;
      this.phase = 'ready';
      await this.link.afterFailedSuspend();
      throw new BerthError('VM_FAILED', `suspend failed, the instance keeps running: ${errorMessage(err)}`);
    }
    await this.driver.kill(launch.spec);
    await this.finish('suspended');
  }

  /**
   * Notices the VM going away (guest poweroff, QEMU killed) and shuts the agent down cleanly; every 10th tick,
   * keeps the guest's console log and the agent's own log bounded (a guest can write without end).
   */
  private watchVm(): void {
    let tick = 0;
    this.watchTimer = setInterval(() => {
      if (++tick % 10 === 0) void this.capLogs();
      if (this.stopping || pidAlive(this.runtime?.qemuPid)) return;
      this.log.warn('QEMU exited');
      void this.finish('the VM exited');
    }, this.deps.watchIntervalMs ?? 500);
  }

  private async capLogs(): Promise<void> {
    try {
      if (await capLogFile(instanceFile(this.name, 'serialLog'), LOG_CAPS.serial.max, LOG_CAPS.serial.keep))
        this.log.warn(
          `the guest console log passed ${LOG_CAPS.serial.max} bytes: its tail is kept in serial.log.1`,
        );
      await capLogFile(instanceFile(this.name, 'agentLog'), LOG_CAPS.agent.max, LOG_CAPS.agent.keep);
    } catch (err) {
      this.log.warn({ err }, 'could not cut a log file');
    }
  }

  async stop(force: boolean): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.phase = 'stopping';
    const vm: VmControl = this.launched?.spec ?? controlSpecFor(this.name);
    const timeoutMs = this.deps.shutdownTimeoutMs ?? 60000;
    if (force) {
      await this.driver.kill(vm);
    } else {
      this.events.progress('stop', 'shutting the guest down');
      const clean = await this.driver.shutdown(vm, timeoutMs);
      if (!clean) {
        this.events.notice(`the guest did not power off within ${timeoutMs / 1000} s: forcing`);
        await this.driver.kill(vm);
      }
    }
    await this.finish(force ? 'forced stop' : 'stopped');
  }

  private async finish(reason: string): Promise<void> {
    this.stopping = true;
    if (this.watchTimer) clearInterval(this.watchTimer);
    await this.link?.close();
    this.phase = 'stopped';
    this.events.emit({ type: 'stopped', reason });
    await this.exit(0);
  }

  private async exit(code: number): Promise<void> {
    if (this.watchTimer) clearInterval(this.watchTimer);
    // Give event subscribers a moment to read the last event, then close the API and leave.
    await this.clock.sleep(200);
    this.api?.close();
    await fsp.rm(instanceFile(this.name, 'agentSock'), { force: true });
    await fsp.rm(instanceFile(this.name, 'agentPid'), { force: true });
    if (!pidAlive(this.runtime?.qemuPid))
      await fsp.rm(instanceFile(this.name, 'dockerSock'), { force: true });
    this.deps.exit(code);
  }
}

export function agentLogFd(name: string): number {
  return fs.openSync(instanceFile(name, 'agentLog'), 'a', 0o600);
}
