import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { capLogFile, printable, readTail } from '../util/log-files.js';
import {
  formatOffset,
  type AgentPhase,
  type AgentStatus,
  type GuestClock,
  type GuestUsage,
} from '../agent-api/events.js';
import type { PortStatus } from '../agent-api/ports.js';
import type { Driver, VmControl, VmEvent, VmWatch } from '../driver/driver.js';
import { discardSavedState } from '../instance/saved-state.js';
import { controlSpecFor } from '../instance/vm-spec.js';
import { linkSystemSocket, SYSTEM_SOCKET, unlinkSystemSocket } from '../instance/system-socket.js';
import { FILES } from '../store/filenames.js';
import { pidAlive, readPid } from '../store/instance-store.js';
import { instanceDir, instanceFile } from '../store/paths.js';
import { crashRecord, runtimeRecord, type RuntimeState } from '../store/records.js';
import { intFromEnv } from '../util/env-int.js';
import { BerthError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { systemClock, type Clock } from '../util/retry.js';
import type { AgentApiHandlers } from './api-server.js';
import type { EventLog } from './event-log.js';
import type { LinkReady } from './guest-link.js';
import {
  classifyVmExit,
  decideVmExit,
  FIRST_RESTART_DELAY_MS,
  MAX_VM_RESTARTS,
  RESTART_WINDOW_MS,
  type VmExit,
} from './restart-policy.js';
import { saveVmState } from './suspend.js';
import type { Launch } from './vm-launcher.js';

/** Log files the guest can make grow: cut past `max` bytes, the last `keep` kept in FILE.1. */
export const LOG_CAPS = {
  serial: { max: 8 << 20, keep: 1 << 20 },
  agent: { max: 16 << 20, keep: 2 << 20 },
};

/** The agent's view of a connected guest (GuestLink; a fake in host-agent.test.ts). */
export interface Link {
  connect(): Promise<LinkReady>;
  startShareEvents(): Promise<void>;
  portList(): PortStatus[];
  readonly connected: boolean;
  unmountSharesForSuspend(): Promise<void>;
  afterFailedSuspend(): Promise<void>;
  flushGuest(): Promise<void>;
  guestUsage(): Promise<GuestUsage | undefined>;
  /** The guest clock's offset; with `sync`, set from the host's first when off by more than the tolerance. */
  guestClock(sync: boolean): Promise<GuestClock | undefined>;
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
  /** Free space on the disks' file system (bytes); default: statfs of the instance dir. */
  freeBytes?: () => Promise<number>;
  shutdownTimeoutMs?: number;
  /** How often a ready guest is asked for its disk and memory, and its clock checked (default 30 s). */
  usageIntervalMs?: number;
  /** The delay before the first restart of a VM that ended on its own (default 1 s; doubled for each next). */
  restartDelayMs?: number;
  /** The guest console log's cap (default LOG_CAPS.serial.max; the tail kept is at most half of it). */
  consoleLogMax?: number;
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
  /** The VM's event watch (why it ends, disk errors), and what it said last about an end. */
  private vmWatch?: VmWatch;
  private watched = false;
  private lastShutdown?: { reason: string };
  /** Set while an unexpected end of the VM is being handled (restart back-off, the new boot). */
  private restarting = false;
  private readyOnce = false;
  /** Each boot's number: a boot that a newer one replaced stops waiting for its guest and gives up quietly. */
  private bootNumber = 0;
  /** The start's first boot ended in a kernel panic and was booted once more (see vmEnded). */
  private panicRebooted = false;
  /** Why the VM is paused by the hypervisor (a disk error), if it is. */
  private pausedFor?: { noSpace: boolean; message: string; free?: number; resumeNote?: string };
  private diskTimer?: NodeJS.Timeout;
  /** What the guest last said of its disk and memory (every USAGE_INTERVAL_MS while ready). */
  private usage?: GuestUsage;
  private usageTimer?: NodeJS.Timeout;
  /** The guest clock's offset as last measured (with the usage). */
  private guestClock?: GuestClock;
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
      paused: this.pausedFor ? this.pausedText(this.pausedFor.free) : undefined,
      guest: this.phase === 'ready' ? this.usage : undefined,
      guestClock: this.phase === 'ready' ? this.guestClock : undefined,
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
      clock: (sync) => this.measureClock(sync),
    });
    try {
      await this.boot();
    } catch (err) {
      // Stopped while starting (a stop request, or the VM went away): finish() is already ending the agent.
      if (this.stopping) {
        this.log.warn({ err }, 'the start was cut short by a stop');
        return;
      }
      // The VM panicked while it booted and vmEnded booted it again: that boot carries the start now.
      if (err instanceof BootReplaced) return;
      await this.failStart(err);
    }
  }

  /** The start failed (before any ready): a "failed" event with the error's code and hint, and exit 1. */
  private async failStart(err: unknown): Promise<void> {
    const e = err instanceof BerthError ? err : new BerthError('INTERNAL', errorMessage(err), { cause: err });
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

  /**
   * A reboot that a kernel panic caused says so on the console (the kernel's panic=-1 reboots): the panic's
   * own words make the report. Only the message changes (both are failures), so a guest that prints a false
   * panic gains nothing.
   */
  private async panicFromConsole(exit: VmExit): Promise<VmExit> {
    const { text } = await readTail(instanceFile(this.name, 'serialLog'), 64 * 1024).catch(() => ({
      text: '',
    }));
    const m = /Kernel panic - not syncing: ([^\n]{0,160})/.exec(printable(text));
    return m ? { kind: 'panic', failure: true, text: `the guest's kernel panicked (${m[1]!.trim()})` } : exit;
  }

  private async serialTail(lines = 15): Promise<string | undefined> {
    // The guest's words: bounded, and no terminal escapes.
    const { text } = await readTail(instanceFile(this.name, 'serialLog'), 64 * 1024).catch(() => ({
      text: '',
    }));
    return printable(text).trimEnd().split('\n').slice(-lines).join('\n') || undefined;
  }

  private async boot(): Promise<void> {
    const n = ++this.bootNumber;
    const replaced = () => n !== this.bootNumber;
    const launch = await this.deps.launch();
    this.launched = launch;
    await runtimeRecord.write(this.name, launch.runtime);
    await this.startVmWatch(launch.spec);
    this.watchVm();
    const link = this.deps.link(launch, () => this.stopping || replaced());
    this.link = link;
    const ready = await link.connect().catch((err: unknown) => {
      throw replaced() ? new BootReplaced() : err;
    });
    if (replaced()) throw new BootReplaced();
    launch.runtime = { ...launch.runtime, platforms: ready.platforms };
    await runtimeRecord.write(this.name, launch.runtime);
    if (this.stopping) return; // stopped while it connected: finish() ends the agent
    if (this.restarting) throw new BerthError('VM_FAILED', 'the VM ended while it booted');
    this.phase = 'ready';
    this.readyAt = new Date();
    this.readyOnce = true;
    this.error = undefined;
    void link.startShareEvents();
    this.watchUsage(link);
    if (launch.cfg.systemSocket) await this.linkSystemSocket();
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
      if (this.stopping || this.restarting || pidAlive(this.runtime?.qemuPid)) return;
      this.restarting = true; // the next tick must not notice it again while this one looks
      void this.confirmVmGone().then(async (gone) => {
        if (!gone) {
          this.restarting = false;
          return;
        }
        // QEMU's end is written after its stderr by the driver once the child is reaped: a moment later.
        await this.clock.sleep(200);
        const words = await this.qemuLastWords();
        this.log.warn(words ? `QEMU exited: ${words}` : 'QEMU exited');
        return this.vmEnded();
      });
    }, this.deps.watchIntervalMs ?? 500);
  }

  /**
   * Whether QEMU is really gone: with no pid known (a pid file read while QEMU wrote it), the pid file is read
   * again before the VM is given up for dead.
   */
  private async confirmVmGone(): Promise<boolean> {
    const launched = this.launched;
    if (!launched || launched.runtime.qemuPid !== undefined) return true;
    const pid = await readPid(instanceFile(this.name, 'qemuPid')).catch(() => undefined);
    if (!pidAlive(pid)) return true;
    launched.runtime.qemuPid = pid;
    this.log.info({ qemuPid: pid }, 'QEMU pid read again from its pid file');
    return false;
  }

  /** The last lines QEMU wrote to its stderr (why it quit, when it says), printable, one line; '' when none. */
  private async qemuLastWords(): Promise<string> {
    const { text } = await readTail(instanceFile(this.name, 'qemuStderr'), 4096).catch(() => ({ text: '' }));
    const lines = text.split('\n').filter((l) => l.trim());
    return printable(lines.slice(-3).join(' | ')).slice(0, 400);
  }

  /** The YAML's `systemSocket: true`: Docker's default socket points at this instance while it runs. */
  private async linkSystemSocket(): Promise<void> {
    try {
      if ((await linkSystemSocket(instanceFile(this.name, 'dockerSock'))) === 'linked')
        this.events.notice(`${SYSTEM_SOCKET} now points at this instance (systemSocket: true)`);
    } catch (err) {
      const e = err instanceof BerthError ? err : new BerthError('INTERNAL', errorMessage(err));
      this.log.warn({ err }, 'cannot link the system socket');
      this.events.notice(`systemSocket: ${e.message}${e.hint ? `; ${e.hint}` : ''}`);
    }
  }

  /**
   * Asks the guest for its disk and memory now and every USAGE_INTERVAL_MS, for `berth status` and doctor; and
   * measures its clock, set again when it drifted past the tolerance (a guest without NTP, a host that slept
   * without berth noticing).
   */
  private watchUsage(link: Link): void {
    if (this.usageTimer) clearInterval(this.usageTimer);
    this.usage = undefined;
    this.guestClock = undefined;
    const refresh = async () => {
      if (this.phase !== 'ready' || this.link !== link || this.pausedFor) return;
      const u = await link.guestUsage().catch(() => undefined);
      if (u && this.link === link) this.usage = u;
      await this.measureClock(true, link);
    };
    void refresh();
    this.usageTimer = setInterval(() => void refresh(), this.deps.usageIntervalMs ?? USAGE_INTERVAL_MS);
    this.usageTimer.unref();
  }

  /**
   * The guest clock's offset now (`sync`: set from the host's when off by more than CLOCK_TOLERANCE_MS, with a
   * notice); undefined when the guest cannot say.
   */
  private async measureClock(sync: boolean, link = this.link): Promise<GuestClock | undefined> {
    if (!link || this.phase !== 'ready' || this.pausedFor) return undefined;
    const c = await link.guestClock(sync).catch(() => undefined);
    if (!c || this.link !== link) return undefined;
    this.guestClock = c;
    if (c.correctedFromMs !== undefined)
      this.events.notice(
        `the guest clock was ${formatOffset(c.correctedFromMs)} the host's: set from it (now within ${Math.abs(c.offsetMs)} ms)`,
      );
    return c;
  }

  /** Holds the VM's event watch open (a VM that cannot be watched runs on; its ends are then "unknown"). */
  private async startVmWatch(vm: VmControl): Promise<void> {
    this.vmWatch?.close();
    this.lastShutdown = undefined;
    this.pausedFor = undefined;
    this.vmWatch = await this.driver
      .watch(vm, (e) => this.onVmEvent(e))
      .catch((err: unknown) => {
        this.log.warn({ err }, "cannot watch the VM's events: a crash will not be told from a power-off");
        return undefined;
      });
    this.watched = this.vmWatch !== undefined;
  }

  private onVmEvent(e: VmEvent): void {
    switch (e.type) {
      case 'shutdown':
        this.log.info({ reason: e.reason, guest: e.guest }, 'the VM is shutting down');
        this.lastShutdown = { reason: e.reason };
        return;
      case 'io-error':
        if (this.pausedFor || this.stopping) return; // one notice per pause (QEMU repeats it per request)
        this.pausedFor = { noSpace: e.noSpace, message: e.message };
        void this.reportPause();
        return;
      case 'resumed':
        this.pauseEnded();
        return;
      case 'paused':
        return;
    }
  }

  private pausedText(free?: number): string {
    const p = this.pausedFor!;
    return p.noSpace
      ? `paused: host disk full${free === undefined ? '' : ` (${(free / 1024 ** 2).toFixed(0)} MiB free where ${FILES.disk} lives)`}`
      : `paused: a disk error on the host (${p.message})`;
  }

  /**
   * The hypervisor paused the VM on a write it could not do. A full host disk: say so, then let the VM go on
   * by itself once space is back (the failed writes are retried, so none the guest was told is done is lost).
   */
  private async reportPause(): Promise<void> {
    const free = await this.freeBytes();
    if (this.pausedFor) this.pausedFor.free = free;
    const text = this.pausedText(free);
    this.log.error({ free, message: this.pausedFor?.message }, text);
    this.events.notice(
      `${text}: ${this.pausedFor?.noSpace ? 'free some space there and the VM goes on by itself' : `see "berth logs ${this.name}"`}`,
    );
    if (!this.pausedFor?.noSpace || this.diskTimer) return;
    this.diskTimer = setInterval(() => void this.resumeWhenSpace(), 2000);
  }

  private async freeBytes(): Promise<number | undefined> {
    try {
      if (this.deps.freeBytes) return await this.deps.freeBytes();
      const st = await fsp.statfs(instanceDir(this.name));
      return st.bavail * st.bsize;
    } catch {
      return undefined;
    }
  }

  private async resumeWhenSpace(): Promise<void> {
    const stopTimer = () => {
      if (this.diskTimer) clearInterval(this.diskTimer);
      this.diskTimer = undefined;
    };
    if (!this.pausedFor || this.stopping || !this.launched) return stopTimer();
    const free = await this.freeBytes();
    if (free === undefined || free < RESUME_FREE_BYTES) return;
    this.log.info({ free }, 'host disk space is back: resuming the VM');
    this.pausedFor.resumeNote = `host disk space is back (${(free / 1024 ** 2).toFixed(0)} MiB free): the VM runs again`;
    if (await this.driver.resume(this.launched.spec)) {
      stopTimer();
      this.pauseEnded(); // QEMU's RESUME event may come before or after the answer to cont: whichever is first
    }
  }

  /** The VM runs again after a pause by the hypervisor: one notice, whoever resumed it. */
  private pauseEnded(): void {
    const p = this.pausedFor;
    if (!p) return;
    this.pausedFor = undefined;
    const note = p.resumeNote ?? 'the VM runs again';
    this.log.info(note);
    this.events.notice(note);
  }

  /**
   * The VM ended without a berth stop or suspend. Its restart policy (the YAML's `restart:`) decides whether
   * it boots again, after a back-off, or the agent ends (a crash loop is recorded for `berth status`). An end
   * during the first boot fails that start instead: the user is there to see it.
   */
  private async vmEnded(override?: VmExit): Promise<void> {
    this.restarting = true;
    if (this.vmWatch) await Promise.race([this.vmWatch.gone, this.clock.sleep(2000)]);
    let exit = override ?? classifyVmExit(this.lastShutdown, this.watched);
    if (exit.kind === 'reboot') exit = await this.panicFromConsole(exit);
    // The next cold boot starts a fresh console log: the panic's own lines (the oops, its trace) go to the
    // agent's log first, for whoever looks into it later (berth logs).
    if (exit.kind === 'panic')
      this.log.warn({ console: await this.serialTail(40) }, `the guest's console at: ${exit.text}`);
    if (!this.readyOnce) {
      // A kernel panic while the start's first boot ran: under TCG a guest kernel now and then dies early for
      // no reason of its own (seen: "Fatal exception in interrupt"), and the user would just start again.
      // Booted once more, at once; a second panic ends the start (a guest that cannot boot).
      if (exit.kind === 'panic' && !this.panicRebooted && !this.stopping) {
        this.panicRebooted = true;
        const message = `${exit.text} while it booted: booting it once more`;
        this.log.warn({ exit: exit.kind }, message);
        this.events.notice(message);
        this.bootNumber++; // the boot in progress stops waiting for its guest
        await this.bootAgain(0, exit.text);
        return;
      }
      await this.finish(exit.text);
      return;
    }
    const policy = this.launched?.cfg.restart ?? 'on-failure';
    const now = Date.now();
    const rec = (await crashRecord.read(this.name)) ?? { restarts: [] };
    const restarts = rec.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
    const d = decideVmExit({ policy, exit, restarts, now, firstDelayMs: this.deps.restartDelayMs });
    const last = exit.failure
      ? { at: new Date(now).toISOString(), kind: exit.kind, text: exit.text }
      : rec.last;
    if (d.action === 'stop') {
      this.log.warn({ exit: exit.kind, policy }, `the VM ended: ${d.reason}`);
      if (exit.failure) await crashRecord.write(this.name, { restarts, last, crashLoop: d.crashLoop });
      if (d.crashLoop) this.events.notice(`${d.reason}; "berth start ${this.name}" tries again`);
      await this.finish(d.crashLoop ? `crash loop: ${exit.text}` : d.reason);
      return;
    }
    await crashRecord.write(this.name, { restarts: [...restarts, now], last });
    const message = `${exit.text}: restarting the VM in ${d.delayMs / 1000} s (restart: ${policy}; restart ${d.attempt} of at most ${MAX_VM_RESTARTS} within ${RESTART_WINDOW_MS / 60_000} min)`;
    this.log.warn({ exit: exit.kind, policy, delayMs: d.delayMs }, message);
    this.events.notice(message);
    await this.bootAgain(d.delayMs, exit.text);
  }

  /** Boots the VM again after it ended (restart policy, or a panic during the start), after delayMs. */
  private async bootAgain(delayMs: number, why: string): Promise<void> {
    this.phase = 'starting';
    this.readyAt = undefined;
    this.error = `restarting: ${why}`;
    if (this.watchTimer) clearInterval(this.watchTimer);
    await this.link?.close();
    this.vmWatch?.close();
    this.vmWatch = undefined;
    await this.clock.sleep(delayMs);
    if (this.stopping) return;
    this.restarting = false;
    try {
      await this.boot();
    } catch (err) {
      // A VM that ended while booting is already being handled (the watch saw it); any other failure ends
      // this boot and counts like a crash.
      if (this.stopping || this.restarting || err instanceof BootReplaced) return;
      // The start's own boot made once more after a panic: its failure is the start's, with its code and hint
      // (an engine that refuses its settings is still BAD_CONFIG, not a VM that did not come up).
      if (!this.readyOnce) {
        await this.failStart(err);
        return;
      }
      this.restarting = true;
      this.log.warn({ err }, 'the restart failed');
      if (this.launched) await this.driver.kill(this.launched.spec).catch(() => undefined);
      await this.vmEnded({
        kind: 'killed',
        failure: true,
        text: `the restarted VM did not come up: ${errorMessage(err)}`,
      });
    }
  }

  private async capLogs(): Promise<void> {
    try {
      const max = this.deps.consoleLogMax ?? LOG_CAPS.serial.max;
      const keep = Math.min(LOG_CAPS.serial.keep, max / 2);
      if (await capLogFile(instanceFile(this.name, 'serialLog'), max, keep))
        this.log.warn(`the guest console log passed ${max} bytes: its tail is kept in serial.log.1`);
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
    if (this.diskTimer) clearInterval(this.diskTimer);
    if (this.usageTimer) clearInterval(this.usageTimer);
    this.vmWatch?.close();
    await this.link?.close();
    this.phase = 'stopped';
    this.events.emit({ type: 'stopped', reason });
    await this.exit(0);
  }

  private async exit(code: number): Promise<void> {
    if (this.watchTimer) clearInterval(this.watchTimer);
    // Give event subscribers a moment to read the last event, then close the API and leave.
    await this.clock.sleep(200);
    this.vmWatch?.close();
    this.api?.close();
    await fsp.rm(instanceFile(this.name, 'agentSock'), { force: true });
    await fsp.rm(instanceFile(this.name, 'agentPid'), { force: true });
    if (!pidAlive(this.runtime?.qemuPid)) {
      await fsp.rm(instanceFile(this.name, 'dockerSock'), { force: true });
      await unlinkSystemSocket(instanceFile(this.name, 'dockerSock')).catch((err: unknown) =>
        this.log.warn({ err }, `cannot remove ${SYSTEM_SOCKET}`),
      );
    }
    this.deps.exit(code);
  }
}

/** Thrown by a boot that a newer boot replaced (see HostAgent.vmEnded): not a failure of the start. */
class BootReplaced extends Error {
  constructor() {
    super('this boot was replaced by a newer one');
  }
}

/** How often a ready guest is asked for its disk and memory (and its clock checked), unless told otherwise. */
export const USAGE_INTERVAL_MS = 30_000;

/** The usage interval from BERTH_USAGE_INTERVAL_MS (whole milliseconds, 1 s to 1 h), else the default. */
export function usageIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return intFromEnv(env, 'BERTH_USAGE_INTERVAL_MS', USAGE_INTERVAL_MS, { min: 1000, max: 3_600_000 });
}

/**
 * The first restart's delay from BERTH_RESTART_DELAY_MS (whole milliseconds, 0.1 s to 60 s), else the restart
 * policy's 1 s; later restarts double it (restart-policy.ts).
 */
export function restartDelayFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return intFromEnv(env, 'BERTH_RESTART_DELAY_MS', FIRST_RESTART_DELAY_MS, { min: 100, max: 60_000 });
}

/**
 * The console log's cap from BERTH_CONSOLE_LOG_MAX (bytes, 64 KiB up to the default: lowered, never raised),
 * else the default: the test that fills it then writes a fraction of 8 MiB through the emulated serial port,
 * which runs at a few hundred KiB/s.
 */
export function consoleLogMaxFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return intFromEnv(env, 'BERTH_CONSOLE_LOG_MAX', LOG_CAPS.serial.max, {
    min: 64 << 10,
    max: LOG_CAPS.serial.max,
  });
}

/** A VM paused on a full host disk goes on once this much is free again. */
const RESUME_FREE_BYTES = 64 * 1024 ** 2;

export function agentLogFd(name: string): number {
  return fs.openSync(instanceFile(name, 'agentLog'), 'a', 0o600);
}
