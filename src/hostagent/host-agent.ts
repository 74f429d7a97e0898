import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type http from 'node:http';
import { loadInstanceConfig } from '../config/load.js';
import {
  binfmtList,
  DOCKER_PLATFORM,
  hostArch,
  type BinfmtArch,
  type InstanceConfig,
} from '../config/schema.js';
import type { Driver, VmSpec } from '../driver/driver.js';
import {
  cachedProbe,
  decideAccel,
  hardwareAccelFor,
  kvmDeviceUsable,
  needsProbe,
  probeHardwareAccel,
} from '../driver/qemu/accel-probe.js';
import { QEMU_BINARY } from '../driver/qemu/args.js';
import { QemuDriver } from '../driver/qemu/qemu-driver.js';
import { guestNetworkEntry } from '../driver/qemu/user-net.js';
import { EngineSocketForwarder } from '../forward/engine-socket-forwarder.js';
import { parseListeners, PortForwarder, type PortStatus } from '../forward/port-forwarder.js';
import { ShareEventRelay, syncManifest } from '../share/share-events.js';
import { guestMountTable, resolveShares, type Share } from '../share/shares.js';
import { ensureKeyPair, publicKeyBlob } from '../guest/ssh-keys.js';
import { GuestChannel } from '../guest/guest-channel.js';
import { SshSession } from '../guest/ssh-session.js';
import { loadImage, resolveImage } from '../image/cache.js';
import type { GuestImage } from '../image/image.js';
import { readInstanceInfo, writeInstanceInfo } from '../instance/instance-info.js';
import { readRuntime, writeRuntime, type RuntimeState } from '../instance/runtime-state.js';
import {
  discardSavedState,
  readSavedState,
  savedStateProblem,
  stateFingerprint,
  writeSavedStateMeta,
} from '../instance/saved-state.js';
import { fwCfgFile, vmSpecFor } from '../instance/vm-spec.js';
import { pidAlive, readPid } from '../store/instance-store.js';
import { berthHome, homeFile, imageCacheDir, instanceDir, instanceFile } from '../store/paths.js';
import { FILES } from '../store/filenames.js';
import { BerthError, errorMessage } from '../util/errors.js';
import { requireTool } from '../util/exec.js';
import type { Logger } from '../util/logger.js';
import { systemClock } from '../util/retry.js';
import { startApiServer } from './api-server.js';
import type { AgentEvent, AgentPhase, AgentStatus } from './events.js';
import { pingEngine } from './engine-ping.js';

const BOOT_TIMEOUT_MS = Number(process.env.BERTH_BOOT_TIMEOUT_MS ?? 10 * 60 * 1000);
const SHUTDOWN_TIMEOUT_MS = Number(process.env.BERTH_SHUTDOWN_TIMEOUT_MS ?? 60 * 1000);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The per-instance daemon: owns QEMU, readiness, the engine socket, and the API the CLI talks to.
 * QEMU runs in its own process group, so a crash of the agent leaves the VM (and its data) alone; a new
 * agent re-attaches to the running VM.
 */
export class HostAgent {
  private readonly driver: Driver = new QemuDriver();
  private phase: AgentPhase = 'starting';
  private readonly events: AgentEvent[] = [];
  private readonly listeners = new Set<(e: AgentEvent) => void>();
  private readonly startedAt = new Date();
  private readonly t0 = Date.now();
  private runtime?: RuntimeState;
  private spec?: VmSpec;
  private forwarder?: EngineSocketForwarder;
  private session?: SshSession;
  private api?: http.Server;
  private stopping = false;
  private error?: string;
  private readyAt?: Date;
  private watchTimer?: NodeJS.Timeout;

  private fingerprint?: string;
  private channel?: GuestChannel;
  private ports?: PortForwarder;
  private shares: Share[] = [];
  private shareEvents?: ShareEventRelay;

  constructor(
    private readonly name: string,
    private readonly log: Logger,
    private readonly opts: { cold?: boolean } = {},
  ) {}

  private emit(e: AgentEvent): void {
    this.events.push(e);
    if (this.events.length > 500) this.events.splice(0, this.events.length - 500);
    this.log.info({ event: e }, e.type === 'progress' || e.type === 'notice' ? e.message : e.type);
    for (const l of this.listeners) l(e);
  }

  private progress(step: string, message: string): void {
    this.emit({ type: 'progress', t: Date.now() - this.t0, step, message });
  }

  status(): AgentStatus {
    return {
      name: this.name,
      phase: this.phase,
      pid: process.pid,
      qemuPid: this.runtime?.qemuPid,
      accel: this.runtime?.accel,
      sshPort: this.runtime?.sshPort,
      socket: this.phase === 'ready' ? instanceFile(this.name, 'dockerSock') : undefined,
      startedAt: this.startedAt.toISOString(),
      readyAt: this.readyAt?.toISOString(),
      error: this.error,
      uptimeMs: Date.now() - this.t0,
    };
  }

  async run(): Promise<void> {
    this.api = await startApiServer(instanceFile(this.name, 'agentSock'), {
      status: () => this.status(),
      history: () => [...this.events],
      subscribe: (fn) => {
        this.listeners.add(fn);
        return () => this.listeners.delete(fn);
      },
      ports: () => this.portList(),
      stop: (force) => this.stop(force),
      suspend: () => this.suspend(),
    });
    try {
      await this.boot();
    } catch (err) {
      const e =
        err instanceof BerthError ? err : new BerthError('INTERNAL', errorMessage(err), { cause: err });
      this.log.error({ err }, 'start failed');
      this.error = e.message;
      this.phase = 'failed';
      const serialTail = await this.serialTail();
      this.emit({
        type: 'failed',
        t: Date.now() - this.t0,
        code: e.code,
        message: e.message,
        hint: e.hint,
        details:
          [e.details, serialTail ? `--- last lines of ${FILES.serialLog} ---\n${serialTail}` : undefined]
            .filter(Boolean)
            .join('\n') || undefined,
      });
      if (this.spec) await this.driver.kill(this.spec).catch(() => undefined);
      await this.exit(1);
    }
  }

  private async serialTail(): Promise<string | undefined> {
    try {
      const text = await fsp.readFile(instanceFile(this.name, 'serialLog'), 'utf8');
      return text.trimEnd().split('\n').slice(-15).join('\n') || undefined;
    } catch {
      return undefined; // no serial log yet: nothing to show
    }
  }

  private async boot(): Promise<void> {
    const breakdown: Record<string, number> = {};
    let mark = Date.now();
    const lap = (k: string) => {
      breakdown[k] = Date.now() - mark;
      mark = Date.now();
    };
    const cfg = await loadInstanceConfig(instanceFile(this.name, 'config'));
    this.shares = resolveShares(cfg, instanceFile(this.name, 'config'));
    const existing = await readRuntime(this.name);
    const qemuPid = await readPid(instanceFile(this.name, 'qemuPid'));
    const reattach = pidAlive(qemuPid) && existing !== undefined;
    let resumed = false;

    let spec: VmSpec;
    if (reattach) {
      this.progress('reattach', `re-attaching to the running VM (QEMU pid ${qemuPid})`);
      const image = await this.instanceImage(cfg);
      spec = vmSpecFor(
        this.name,
        cfg,
        image,
        existing.accel as VmSpec['accel'],
        existing.sshPort,
        this.shares,
      );
      this.runtime = { ...existing, agentPid: process.pid };
      this.fingerprint = existing.fingerprint;
    } else {
      const bin = await requireTool(QEMU_BINARY[cfg.arch]);
      this.progress('image', 'preparing the guest image');
      const image = await this.instanceImage(cfg);
      lap('image');
      const accel = await this.chooseAccel(cfg, image.kernel);
      lap('accel');
      const qemuStat = await fsp.stat(bin);
      this.fingerprint = stateFingerprint(cfg, image.id, `${bin}:${qemuStat.size}:${qemuStat.mtimeMs}`);
      const sshPort = await freePort();
      spec = vmSpecFor(this.name, cfg, image, accel, sshPort, this.shares);
      await this.writeGuestIdentity();
      await fsp.writeFile(fwCfgFile(this.name, 'binfmt'), binfmtList(cfg.arch, cfg.binfmt).join(' '), {
        mode: 0o600,
      });
      await fsp.writeFile(fwCfgFile(this.name, 'mounts'), guestMountTable(this.shares), { mode: 0o600 });
      await fsp.writeFile(fwCfgFile(this.name, 'network'), guestNetworkEntry(), { mode: 0o600 });
      await this.writeSyncManifests(false);
      resumed = await this.tryResume(spec);
      if (!resumed) {
        await this.writeSyncManifests(true);
        await this.driver.prepareDisk(spec, cfg.disk);
        const info = await readInstanceInfo(this.name);
        if (info && info.imageDir !== image.dir)
          await writeInstanceInfo(this.name, { ...info, imageDir: image.dir });
        lap('disk');
        this.progress(
          'boot',
          `booting the VM (${cfg.arch}, ${cfg.cpus} CPUs, ${Math.round(cfg.memory / 1024 ** 2)} MiB, ${accel})`,
        );
        await this.driver.start(spec);
      }
      const pid = await readPid(spec.pidFile);
      this.runtime = {
        sshPort,
        accel,
        imageId: image.id,
        imageDir: image.dir,
        qemuPid: pid,
        agentPid: process.pid,
        startedAt: new Date().toISOString(),
        fingerprint: this.fingerprint,
      };
      lap(resumed ? 'resume' : 'qemu');
    }
    this.spec = spec;
    await writeRuntime(this.name, this.runtime!);
    this.watchVm();

    this.channel = new GuestChannel(spec.eventSocket);
    await this.channel.connect(30000, () => this.stopping);
    // After a resume the guest's clock stood still while it was suspended: set it from the host's at once,
    // over the guest channel, while SSH connects. Shared folders were unmounted for the suspend.
    const clockFix = resumed ? Promise.all([this.syncGuestClock(), this.remountShares()]) : Promise.resolve();
    const portsReady = this.startPortForwarding(cfg, spec);
    // The guest says it is ready, and which channel protocol it speaks (older images: 1). A resumed or
    // running guest answers at once: SSH connects meanwhile instead of after it (the warm-start path).
    const hello = this.channel
      .waitReady(BOOT_TIMEOUT_MS, () => this.stopping)
      .then(() => {
        if (this.channel!.version < 2) {
          this.notice(
            `this instance's guest image predates port forwarding and shared folders; to get them, recreate it: berth delete ${this.name} && berth start ${this.name}`,
          );
        }
      });
    // SSH connects while the guest boots (sshd is up seconds before the engine), so the session is ready
    // when the engine is; on a cold boot it keeps trying for as long as the boot may take.
    this.forwarder = new EngineSocketForwarder(instanceFile(this.name, 'dockerSock'), this.log);
    const session = this.connectSession(spec, resumed || reattach ? 120000 : BOOT_TIMEOUT_MS + 120000);
    // Awaited below: mark them handled now so an early failure is not an unhandled rejection.
    for (const p of [clockFix, hello, portsReady, session]) p.catch(() => undefined);
    if (!resumed && !reattach) {
      this.progress('guest', 'waiting for the guest to boot and the engine to start');
      await hello;
      lap('guest');
    }
    await session;
    lap('ssh');
    await this.forwarder.listen();
    this.progress('engine', 'waiting for Docker Engine to answer through the host socket');
    await Promise.all([this.waitEngine(), clockFix, hello, portsReady]);
    lap('engine');
    // A resumed or re-attached guest keeps the interpreters it had: no need to ask it again on the warm path.
    const known = (resumed || reattach) && existing?.platforms;
    if (known) this.runtime = { ...this.runtime!, platforms: known };
    else await this.recordPlatforms(cfg);
    this.phase = 'ready';
    this.readyAt = new Date();
    void this.startShareEvents();
    this.emit({
      type: 'ready',
      t: Date.now() - this.t0,
      socket: instanceFile(this.name, 'dockerSock'),
      elapsedMs: Date.now() - this.t0,
      breakdown,
      ...(!resumed && !reattach ? { guestBoot: this.channel.bootMarks } : {}),
    });
  }

  /**
   * The image to boot: the one the instance's disk was created from, once it has a disk (a newer berth may
   * build a newer image; the old disk's kernel modules must match the kernel). New instances resolve the
   * configured or built-in image.
   */
  private async instanceImage(cfg: InstanceConfig): Promise<GuestImage> {
    const info = await readInstanceInfo(this.name);
    if (info?.imageDir && fs.existsSync(instanceFile(this.name, 'disk'))) {
      const pinned = await loadImage(info.imageDir);
      if (!pinned) {
        throw new BerthError(
          'IMAGE',
          `the guest image this instance was created from is gone (${info.imageDir})`,
          {
            hint: `recreate the instance: berth delete ${this.name} && berth start ${this.name}`,
          },
        );
      }
      return pinned;
    }
    return resolveImage(cfg.image, cfg.arch, (m) => this.progress('image', m));
  }

  private async chooseAccel(cfg: InstanceConfig, kernel: string): Promise<VmSpec['accel']> {
    const facts = {
      platform: process.platform,
      hostArch: hostArch(),
      guestArch: cfg.arch,
      kvmDevice: process.platform === 'linux' && kvmDeviceUsable(),
    };
    let probe: { ok: boolean; detail: string } | undefined;
    if (needsProbe(cfg.accel, facts)) {
      const hw = hardwareAccelFor(process.platform)!;
      const bin = await requireTool(QEMU_BINARY[cfg.arch]);
      const st = await fsp.stat(bin);
      const key = `${hw}:${bin}:${st.mtimeMs}:${kernel}`;
      this.progress('accel', `checking that ${hw} works`);
      probe = await cachedProbe(homeFile('accelProbe'), key, () => probeHardwareAccel(cfg.arch, hw, kernel));
    }
    const d = decideAccel(cfg.accel, { ...facts, probe });
    if (d.notice) this.emit({ type: 'notice', t: Date.now() - this.t0, message: d.notice });
    return d.accel;
  }

  private async writeGuestIdentity(): Promise<void> {
    const dir = path.join(instanceDir(this.name), FILES.fwCfgDir);
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    const user = await ensureKeyPair(homeFile('userKey'), homeFile('userKeyPub'), 'berth');
    await ensureKeyPair(
      instanceFile(this.name, 'hostKey'),
      instanceFile(this.name, 'hostKeyPub'),
      `berth-${this.name}`,
    );
    await fsp.writeFile(fwCfgFile(this.name, 'authorized_keys'), user.publicKey + '\n', { mode: 0o600 });
  }

  /**
   * Resumes from a saved state when there is a usable one. Anything wrong with it (config changed,
   * partial file, QEMU refuses it) gives a notice, discards it and falls back to a cold boot.
   */
  private async tryResume(spec: VmSpec): Promise<boolean> {
    const meta = await readSavedState(this.name);
    if (!meta) return false;
    const problem = this.opts.cold
      ? 'cold start requested (--cold)'
      : savedStateProblem(meta, this.fingerprint!);
    if (problem) {
      this.notice(`discarding the saved state: ${problem}; cold start`);
      await discardSavedState(this.name);
      return false;
    }
    this.progress(
      'resume',
      `resuming from the saved state (${(meta.sizeBytes / 1024 ** 2).toFixed(0)} MiB, saved ${meta.savedAt})`,
    );
    try {
      await this.driver.start({ ...spec, incoming: true });
      await this.driver.loadState(spec, instanceFile(this.name, 'suspendState'));
    } catch (err) {
      this.log.warn({ err }, 'resume failed');
      await this.driver.kill(spec).catch(() => undefined);
      this.notice(`the saved state could not be used (${errorMessage(err)}); cold start`);
      await discardSavedState(this.name);
      return false;
    }
    // Once the guest runs on, its disk moves past the saved state: the state must never be used again.
    await discardSavedState(this.name);
    return true;
  }

  /** Guest listeners → host forwards, for as long as the agent runs (forwards the VM already has are kept). */
  private async startPortForwarding(cfg: InstanceConfig, spec: VmSpec): Promise<void> {
    this.ports = new PortForwarder(this.driver, spec, cfg.portForwards, this.log, (m) => this.notice(m));
    await this.ports.init(spec.sshPort);
    this.channel!.onPorts((text) => void this.ports?.update(parseListeners(text)));
  }

  private portList(): PortStatus[] {
    return this.ports?.list() ?? [];
  }

  private async startShareEvents(): Promise<void> {
    if (this.shares.length === 0) return;
    // berth's own busy files (instance disks, images) may live under a share: their writes are not relayed.
    this.shareEvents = new ShareEventRelay(this.shares, this.channel!, this.log, (m) => this.notice(m), [
      berthHome(),
      imageCacheDir(),
    ]);
    for (const problem of await this.shareEvents.start()) this.notice(problem);
    // Host-side changes with no events (while the agent was away: suspended, restarted; or since the manifest).
    await this.shareEvents
      .resync()
      .catch((err) => this.log.warn({ err }, "sending the synchronised folders' state failed"));
  }

  /**
   * The manifests of the synchronised folders (fw_cfg files QEMU reads at start): their contents for a cold
   * boot, else just present (a resumed guest does not read them; the scan after ready brings it up to date).
   */
  private async writeSyncManifests(full: boolean): Promise<void> {
    for (const s of this.shares.filter((x) => x.sync)) {
      const file = fwCfgFile(this.name, `sync-${s.tag}`);
      const text = full ? await syncManifest(s.hostPath, [berthHome(), imageCacheDir()]) : '';
      if (full || !fs.existsSync(file)) await fsp.writeFile(file, text, { mode: 0o600 });
    }
  }

  private async remountShares(): Promise<void> {
    if (this.shares.length === 0) return;
    await this.channel!.waitReady(30000, () => this.stopping); // learns the guest's protocol version
    if (this.channel!.version < 2) return;
    const problem = await this.channel!.mountShares();
    if (problem) this.notice(`shared folders could not be mounted again: ${problem}`);
    else this.shareEvents?.repin();
  }

  private async syncGuestClock(): Promise<void> {
    if (await this.channel!.setTime()) return;
    // No answer on the channel (an older guest image?): fall back to SSH.
    this.log.warn('guest channel did not confirm the clock; setting it over SSH');
    const wait = Date.now() + 30000;
    while (!this.session && Date.now() < wait) await systemClock.sleep(50);
    const r = await this.session?.exec(`date -u -s @${(Date.now() / 1000).toFixed(3)} >/dev/null`, 10000);
    if (r?.code !== 0) this.log.warn({ stderr: r?.stderr }, 'setting the guest clock failed');
  }

  /** Which platforms the engine can run: native, plus every qemu-user interpreter registered in the guest. */
  private async recordPlatforms(cfg: InstanceConfig): Promise<void> {
    const native = DOCKER_PLATFORM[cfg.arch];
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
    const foreign = (arches ?? [])
      .map((a) => DOCKER_PLATFORM[a as BinfmtArch])
      .filter((p): p is string => Boolean(p));
    this.runtime = { ...this.runtime!, platforms: [native, ...foreign.sort()] };
    await writeRuntime(this.name, this.runtime);
  }

  private notice(message: string): void {
    this.emit({ type: 'notice', t: Date.now() - this.t0, message });
  }

  /**
   * Suspend: flush the guest's dirty data to disk (so discarding the state later loses nothing synced),
   * save RAM + device state to a file, quit QEMU. The next start resumes from it.
   */
  async suspend(): Promise<void> {
    try {
      await this.suspendVm();
    } catch (err) {
      const e = err instanceof BerthError ? err : new BerthError('VM_FAILED', errorMessage(err));
      this.emit({ type: 'suspend-failed', t: Date.now() - this.t0, message: e.message, hint: e.hint });
    }
  }

  private async suspendVm(): Promise<void> {
    if (this.stopping || this.phase !== 'ready' || !this.spec || !this.session) {
      throw new BerthError('CONFLICT', `instance "${this.name}" is ${this.phase}, not running`);
    }
    if (this.shares.length > 0 && this.channel!.version >= 2) {
      // QEMU cannot save a VM while a 9p folder is mounted in it (older guest images mount none).
      this.progress('suspend', 'unmounting shared folders');
      const problem = await this.channel!.unmountShares();
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
    this.stopping = true;
    this.phase = 'stopping';
    const t = Date.now();
    // Flush dirty data (so discarding the state later loses nothing synced), then drop clean caches so the
    // state file holds only memory that matters: smaller file, faster save and resume.
    this.progress('suspend', 'flushing guest buffers to disk');
    await this.session
      .exec('sync && echo 3 > /proc/sys/vm/drop_caches', 60000)
      .catch((err) => this.log.warn({ err }, 'guest sync failed'));
    this.progress('suspend', 'saving the VM state');
    const file = instanceFile(this.name, 'suspendState');
    try {
      const size = await this.driver.saveState(this.spec, `${file}.tmp`);
      await fsp.rename(`${file}.tmp`, file);
      await writeSavedStateMeta(this.name, {
        fingerprint: this.fingerprint ?? 'unknown',
        imageId: this.runtime?.imageId ?? 'unknown',
        sizeBytes: size,
        savedAt: new Date().toISOString(),
      });
      this.progress(
        'suspend',
        `saved ${(size / 1024 ** 2).toFixed(0)} MiB in ${((Date.now() - t) / 1000).toFixed(1)} s`,
      );
    } catch (err) {
      await discardSavedState(this.name);
      this.stopping = false;
      this.phase = 'ready';
      await this.remountShares();
      throw new BerthError('VM_FAILED', `suspend failed, the instance keeps running: ${errorMessage(err)}`);
    }
    await this.driver.kill(this.spec);
    await this.finish('suspended');
  }

  private async connectSession(spec: VmSpec, timeoutMs = 120000): Promise<void> {
    const user = await ensureKeyPair(homeFile('userKey'), homeFile('userKeyPub'), 'berth');
    const hostKeyPub = await fsp.readFile(instanceFile(this.name, 'hostKeyPub'), 'utf8');
    const target = {
      host: '127.0.0.1',
      port: spec.sshPort,
      user: 'root',
      privateKey: user.privateKey,
      hostKey: publicKeyBlob(hostKeyPub),
    };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const s = await SshSession.connect(target, 15000);
        this.session = s;
        this.forwarder?.setSession(s);
        this.log.info('guest session connected');
        s.onClose(() => {
          this.forwarder?.setSession(undefined);
          this.session = undefined;
          if (this.stopping) return;
          this.log.warn('guest session closed; reconnecting');
          void this.connectSession(spec).catch((err) => this.log.error({ err }, 'reconnect failed'));
        });
        return;
      } catch (err) {
        if (err instanceof BerthError && err.code === 'PERMISSION') throw err;
        if (this.stopping) throw new BerthError('VM_FAILED', 'the VM stopped');
        if (Date.now() > deadline) {
          throw new BerthError('TIMEOUT', `cannot reach the guest over SSH: ${errorMessage(err)}`);
        }
        await systemClock.sleep(250);
      }
    }
  }

  private async waitEngine(): Promise<void> {
    const sock = instanceFile(this.name, 'dockerSock');
    const deadline = Date.now() + 120000;
    for (;;) {
      const ok = await pingEngine(sock, 5000);
      if (ok) return;
      if (this.stopping) throw new BerthError('VM_FAILED', 'the VM stopped');
      if (Date.now() > deadline)
        throw new BerthError('TIMEOUT', 'Docker Engine did not answer through the host socket');
      await systemClock.sleep(300);
    }
  }

  /** Notices the VM going away (guest poweroff, QEMU killed) and shuts the agent down cleanly. */
  private watchVm(): void {
    this.watchTimer = setInterval(() => {
      if (this.stopping || pidAlive(this.runtime?.qemuPid)) return;
      this.log.warn('QEMU exited');
      void this.finish('the VM exited');
    }, 500);
  }

  async stop(force: boolean): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.phase = 'stopping';
    const spec = this.spec ?? {
      pidFile: instanceFile(this.name, 'qemuPid'),
      qmpSocket: instanceFile(this.name, 'qmpSock'),
    };
    if (force) {
      await this.driver.kill(spec);
    } else {
      this.emit({
        type: 'progress',
        t: Date.now() - this.t0,
        step: 'stop',
        message: 'shutting the guest down',
      });
      const clean = await this.driver.shutdown(spec, SHUTDOWN_TIMEOUT_MS);
      if (!clean) {
        this.emit({
          type: 'notice',
          t: Date.now() - this.t0,
          message: `the guest did not power off within ${SHUTDOWN_TIMEOUT_MS / 1000} s: forcing`,
        });
        await this.driver.kill(spec);
      }
    }
    await this.finish(force ? 'forced stop' : 'stopped');
  }

  private async finish(reason: string): Promise<void> {
    this.stopping = true;
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.session?.end();
    this.ports?.close();
    await this.shareEvents?.stop();
    this.channel?.close();
    await this.forwarder?.close().catch(() => undefined);
    this.phase = 'stopped';
    this.emit({ type: 'stopped', t: Date.now() - this.t0, reason });
    await this.exit(0);
  }

  private async exit(code: number): Promise<void> {
    if (this.watchTimer) clearInterval(this.watchTimer);
    // Give event subscribers a moment to read the last event, then close the API and leave.
    await systemClock.sleep(200);
    this.api?.close();
    await fsp.rm(instanceFile(this.name, 'agentSock'), { force: true });
    await fsp.rm(instanceFile(this.name, 'agentPid'), { force: true });
    if (!pidAlive(this.runtime?.qemuPid))
      await fsp.rm(instanceFile(this.name, 'dockerSock'), { force: true });
    process.exit(code);
  }
}

export function agentLogFd(name: string): number {
  return fs.openSync(instanceFile(name, 'agentLog'), 'a', 0o600);
}
