import { clockIsOff, parseGuestUsage, type GuestClock, type GuestUsage } from '../agent-api/events.js';
import type { PortStatus } from '../agent-api/ports.js';
import { DOCKER_PLATFORM, type BinfmtArch } from '../config/schema.js';
import type { Driver } from '../driver/driver.js';
import { EngineSocketForwarder } from '../forward/engine-socket-forwarder.js';
import { parseListeners, PortForwarder } from '../forward/port-forwarder.js';
import { GuestChannel } from '../guest/guest-channel.js';
import type { ContainerRuntime } from '../runtime/runtime.js';
import { ShareEventRelay } from '../share/share-events.js';
import { berthHome, imageCacheDir, instanceFile } from '../store/paths.js';
import { BerthError } from '../util/errors.js';
import { laps } from '../util/laps.js';
import type { Logger } from '../util/logger.js';
import { retryUntil, systemClock, type Clock } from '../util/retry.js';
import type { EventLog } from './event-log.js';
import { GuestSession } from './guest-session.js';
import type { Launch } from './vm-launcher.js';

const BOOT_TIMEOUT_MS = Number(process.env.BERTH_BOOT_TIMEOUT_MS ?? 10 * 60 * 1000);

/** What the agent learns once the guest is connected. */
export interface LinkReady {
  /** Cold boots: the guest's own milestones (GuestChannel.bootMarks). */
  guestBoot?: Record<string, number>;
  /** Docker platforms the engine runs (native first). */
  platforms: string[];
  /** ms per connect step (guest, ssh, engine). */
  breakdown: Record<string, number>;
}

/** A 1 s timer that fires this late means the process (or the whole host) was not running meanwhile. */
const WAKE_GAP_MS = 5000;

/**
 * Everything between the agent and a running guest: the guest channel (readiness, ports, file events,
 * clock), the SSH session, the engine socket on the host, port forwarding and shared-folder events.
 */
export class GuestLink {
  private channel?: GuestChannel;
  private wakeTimer?: NodeJS.Timeout;
  private session?: GuestSession;
  private forwarder?: EngineSocketForwarder;
  private ports?: PortForwarder;
  private shareEvents?: ShareEventRelay;
  private closed = false;

  constructor(
    private readonly name: string,
    private readonly launch: Launch,
    private readonly driver: Driver,
    private readonly runtime: ContainerRuntime,
    private readonly events: EventLog,
    private readonly log: Logger,
    /** The agent is stopping or suspending: give up waits and do not reconnect. */
    private readonly agentStopping: () => boolean = () => false,
    private readonly clock: Clock = systemClock,
  ) {}

  private readonly stopped = () => this.closed || this.agentStopping();

  /** Connects everything in parallel; resolves once the engine answers through the host socket. */
  async connect(): Promise<LinkReady> {
    const { spec, mode } = this.launch;
    const { breakdown, lap } = laps();
    const channel = new GuestChannel(spec.eventSocket);
    channel.problem = (m) => this.events.notice(m);
    this.channel = channel;
    await channel.connect(30000, this.stopped);
    const target = await GuestSession.targetFor(this.name, spec.sshPort);
    const portsReady = this.startPortForwarding();
    // The guest says it is ready, and which channel protocol it speaks (older images: 1). A resumed or
    // running guest answers at once: SSH connects meanwhile instead of after it (the warm-start path).
    const hello = channel.waitReady(BOOT_TIMEOUT_MS, this.stopped).then(() => {
      if (channel.version < 2) {
        this.events.notice(
          `this instance's guest image predates port forwarding and shared folders; to get them, recreate it: berth delete ${this.name} && berth start ${this.name}`,
        );
      }
      if (this.launch.cfg.autoForward === 'published' && channel.version < 6) {
        this.events.notice(
          `this instance's guest image does not say which process listens, so "autoForward: published" forwards nothing without a rule; move it to the current image: berth start ${this.name} --upgrade`,
        );
      }
    });
    // After a resume the guest's clock stood still while it was suspended: set it from the host's at once,
    // over the guest channel, while SSH connects. Shared folders were unmounted for the suspend.
    // A cold boot takes the RTC's whole seconds: set it to the host's millisecond once the guest answers (off
    // the ready path: the engine takes longer).
    const clockFix =
      mode === 'resumed'
        ? Promise.all([this.syncGuestClock(), this.remountShares()])
        : hello.then(() => this.syncGuestClock());
    // SSH connects while the guest boots (sshd is up seconds before the engine), so the session is ready
    // when the engine is; on a cold boot it keeps trying for as long as the boot may take.
    this.forwarder = new EngineSocketForwarder(
      instanceFile(this.name, 'dockerSock'),
      this.log,
      this.runtime.guest.engineSocket,
    );
    this.session = new GuestSession(target, this.log, this.stopped, this.clock);
    this.session.onChange((s) => this.forwarder?.setSession(s));
    const session = this.session.connect(mode === 'cold' ? BOOT_TIMEOUT_MS + 120000 : 120000);
    // Awaited below: mark them handled now so an early failure is not an unhandled rejection.
    for (const p of [clockFix, hello, portsReady, session]) p.catch(() => undefined);
    if (mode === 'cold') {
      this.events.progress('guest', 'waiting for the guest to boot and the engine to start');
      await hello;
      lap('guest');
    }
    await session;
    lap('ssh');
    await this.forwarder.listen();
    this.events.progress('engine', 'waiting for Docker Engine to answer through the host socket');
    await Promise.all([this.waitEngine(), clockFix, hello, portsReady]);
    lap('engine');
    // A resumed or re-attached guest keeps the interpreters it had: no need to ask it again on the warm path.
    const known = mode !== 'cold' ? this.launch.runtime.platforms : undefined;
    const platforms = known ?? (await this.platforms());
    this.watchForWake();
    return { breakdown, platforms, ...(mode === 'cold' ? { guestBoot: channel.bootMarks } : {}) };
  }

  private async waitEngine(): Promise<void> {
    const sock = instanceFile(this.name, 'dockerSock');
    await retryUntil(
      async () => {
        if (this.stopped()) throw new BerthError('VM_FAILED', 'the VM stopped');
        return this.runtime.ping(sock, 5000);
      },
      Boolean,
      {
        intervalMs: 300,
        timeoutMs: 120000,
        clock: this.clock,
        onTimeout: () => {
          throw new BerthError('TIMEOUT', 'Docker Engine did not answer through the host socket');
        },
      },
    );
  }

  /** Guest listeners → host forwards, for as long as the agent runs (forwards the VM already has are kept). */
  private async startPortForwarding(): Promise<void> {
    if (!this.driver.features.hostForwards) return;
    const { spec, cfg } = this.launch;
    this.ports = new PortForwarder(
      this.driver,
      spec,
      cfg.portForwards,
      this.log,
      (m) => this.events.notice(m),
      undefined,
      { mode: cfg.autoForward, publishers: this.runtime.publishers },
    );
    await this.ports.init(spec.sshPort);
    this.channel!.onPorts((text) => void this.ports?.update(parseListeners(text)));
  }

  portList(): PortStatus[] {
    return this.ports?.list() ?? [];
  }

  /** Host file events → the guest, and the synchronised folders brought up to date (after ready). */
  async startShareEvents(): Promise<void> {
    const shares = this.launch.shares;
    if (shares.length === 0 || this.stopped()) return;
    // berth's own busy files (instance disks, images) may live under a share: their writes are not relayed.
    this.shareEvents = new ShareEventRelay(shares, this.channel!, this.log, (m) => this.events.notice(m), [
      berthHome(),
      imageCacheDir(),
    ]);
    for (const problem of await this.shareEvents.start()) this.events.notice(problem);
    // Host-side changes with no events (while the agent was away: suspended, restarted; or since the manifest).
    await this.shareEvents
      .resync()
      .catch((err) => this.log.warn({ err }, "sending the synchronised folders' state failed"));
  }

  private async remountShares(): Promise<void> {
    if (this.launch.shares.length === 0) return;
    await this.channel!.waitReady(30000, this.stopped); // learns the guest's protocol version
    if (this.channel!.version < 2) return;
    const problem = await this.channel!.mountShares();
    if (problem) this.events.notice(`shared folders could not be mounted again: ${problem}`);
    else this.shareEvents?.repin();
  }

  /**
   * The host slept (or berth's processes were stopped) when a 1 s timer fires late: the guest clock is set
   * again at once, so it is right within the second of the wake rather than when NTP-less guests drift back.
   */
  private watchForWake(): void {
    let last = this.clock.now();
    this.wakeTimer = setInterval(() => {
      const now = this.clock.now();
      const gap = now - last;
      last = now;
      if (gap < WAKE_GAP_MS || this.stopped()) return;
      this.log.info(
        { gapMs: gap },
        `nothing ran for ${(gap / 1000).toFixed(0)} s (the host slept, or berth was stopped): setting the guest clock`,
      );
      this.syncGuestClock().catch((err) =>
        this.log.warn({ err }, 'setting the guest clock after a wake failed'),
      );
    }, 1000);
    this.wakeTimer.unref();
  }

  private async syncGuestClock(): Promise<void> {
    if (await this.channel!.setTime()) return;
    // No answer on the channel (an older guest image?): fall back to SSH.
    this.log.warn('guest channel did not confirm the clock; setting it over SSH');
    const r = await this.session?.exec(`date -u -s @${(Date.now() / 1000).toFixed(3)} >/dev/null`, 10000);
    if (r?.code !== 0) this.log.warn({ stderr: r?.stderr }, 'setting the guest clock failed');
  }

  /** Which platforms the engine can run: native, plus every qemu-user interpreter registered in the guest. */
  private async platforms(): Promise<string[]> {
    const native = DOCKER_PLATFORM[this.launch.cfg.arch];
    // Asked over the guest channel: an SSH exec here would sit on the cold-start path (older guests: SSH).
    let arches = this.channel!.version >= 2 ? await this.channel!.binfmt() : undefined;
    if (!arches) {
      const r = await this.session!.exec('ls /proc/sys/fs/binfmt_misc', 10000).catch(() => undefined);
      arches = r?.stdout
        .split(/\s+/)
        .filter((f) => f.startsWith('qemu-'))
        .map((f) => f.slice(5));
      if (!arches) this.log.warn('could not list the binfmt interpreters');
    }
    return [native, ...foreignPlatforms(arches ?? [], native)];
  }

  /**
   * Before a suspend: QEMU cannot save a VM while a 9p folder is mounted in it (older guest images mount
   * none). Throws CONFLICT, with the folders mounted again, when one is in use.
   */
  async unmountSharesForSuspend(): Promise<void> {
    if (this.launch.shares.length === 0 || !this.channel || this.channel.version < 2) return;
    this.events.progress('suspend', 'unmounting shared folders');
    const problem = await this.channel.unmountShares();
    if (problem) {
      this.shareEvents?.repin();
      throw new BerthError(
        'CONFLICT',
        `cannot suspend "${this.name}": a shared folder is in use in the guest (${problem})`,
        {
          hint: 'stop what uses it (containers that bind-mount it, shells or programs started with "berth ssh"), or use "berth stop"',
        },
      );
    }
  }

  /** After a suspend that failed: the guest runs on, with its folders. */
  async afterFailedSuspend(): Promise<void> {
    await this.remountShares();
  }

  /**
   * Flushes the guest's dirty data (so discarding a saved state later loses nothing synced), then drops
   * clean caches so the state holds only memory that matters: smaller file, faster save and resume.
   */
  async flushGuest(): Promise<void> {
    // Over the guest channel: an SSH command runs the login shell's rc files (the host user's own, when the
    // home share is the guest's home), which can stall it.
    if (this.channel && this.channel.version >= 7) {
      const problem = await this.channel.flush();
      if (problem) this.log.warn({ problem }, 'guest sync failed');
      return;
    }
    await this.session
      ?.exec('sync && echo 3 > /proc/sys/vm/drop_caches', 60000)
      .then((r) => {
        if (r?.code !== 0) this.log.warn({ stderr: r?.stderr }, 'guest sync failed');
      })
      .catch((err) => this.log.warn({ err }, 'guest sync failed'));
  }

  /**
   * The guest's disk (where the engine keeps its state) and memory, as it sees them, over the guest channel
   * (an SSH command would run the login shell's rc files, the host user's own when the home share is /root);
   * undefined from a guest too old to say (protocol < 4) or one that cannot.
   */
  async guestUsage(): Promise<GuestUsage | undefined> {
    const ch = this.channel;
    if (!ch || ch.version < 4) return undefined;
    const payload = await ch.usage(this.runtime.guest.dataDir);
    return payload === undefined ? undefined : parseGuestUsage(payload, new Date());
  }

  /**
   * The guest clock against the host's, over the guest channel (protocol 5); with `sync`, a clock off by more
   * than CLOCK_TOLERANCE_MS is set from the host's and measured again. undefined when the guest cannot say.
   */
  guestClock(sync: boolean): Promise<GuestClock | undefined> {
    // One measurement at a time: two questions in flight would both take the first answer.
    const run = this.clockTurn.then(() => this.measureClock(sync));
    this.clockTurn = run.catch(() => undefined);
    return run;
  }

  private clockTurn: Promise<unknown> = Promise.resolve();

  private async measureClock(sync: boolean): Promise<GuestClock | undefined> {
    const ch = this.channel;
    if (!ch || ch.version < 5) return undefined;
    const before = await ch.clockOffset();
    if (!before) return undefined;
    if (!sync || !clockIsOff(before)) return { ...before, at: new Date().toISOString() };
    this.log.info({ offsetMs: before.offsetMs }, 'the guest clock is off: setting it');
    await this.syncGuestClock();
    const after = await ch.clockOffset();
    return after && { ...after, correctedFromMs: before.offsetMs, at: new Date().toISOString() };
  }

  /** Connected enough to suspend: the SSH session is up. */
  get connected(): boolean {
    return this.session?.current !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.wakeTimer) clearInterval(this.wakeTimer);
    this.session?.end();
    this.ports?.close();
    await this.shareEvents?.stop();
    this.channel?.close();
    await this.forwarder?.close().catch(() => undefined); // the agent is leaving either way
  }
}

/**
 * Docker platforms of the interpreter names the guest reported: only names berth knows (a guest's
 * "constructor" or "__proto__" is no platform), each once, sorted, the native one left out.
 */
export function foreignPlatforms(arches: string[], native: string): string[] {
  const known = arches
    .filter((a) => Object.hasOwn(DOCKER_PLATFORM, a))
    .map((a) => DOCKER_PLATFORM[a as BinfmtArch])
    .filter((p) => p !== native);
  return [...new Set(known)].sort();
}
