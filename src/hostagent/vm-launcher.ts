import fs from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { loadInstanceConfig } from '../config/load.js';
import type { InstanceConfig } from '../config/schema.js';
import type { Driver, VmSpec } from '../driver/driver.js';
import { loadImage, resolveImage } from '../image/cache.js';
import { checkImageSeal, sealImage, userImageSeal } from '../image/seal.js';
import type { GuestImage } from '../image/image.js';
import { stateFingerprint } from '../instance/saved-state.js';
import { runtimeFor } from '../runtime/runtimes.js';
import { controlSpecFor, guestFile, vmSpecFor } from '../instance/vm-spec.js';
import { syncManifest } from '../share/share-events.js';
import { resolveShares, type Share } from '../share/shares.js';
import { readPid } from '../store/instance-store.js';
import { berthHome, imageCacheDir, instanceFile } from '../store/paths.js';
import { instanceInfoRecord, runtimeRecord, type RuntimeState } from '../store/records.js';
import { BerthError } from '../util/errors.js';
import { laps } from '../util/laps.js';
import type { Logger } from '../util/logger.js';
import type { EventLog } from './event-log.js';
import { writeGuestFiles } from './guest-files.js';
import { tryResume } from './suspend.js';
import { diskLayout, upgradeInstance, upgradeNotice } from '../instance/upgrade.js';

/** How the VM came up: booted, resumed from a saved state, or found running (a new agent re-attaching). */
export type LaunchMode = 'cold' | 'resumed' | 'reattached';

/** A running VM and what the agent needs to serve it. */
export interface Launch {
  cfg: InstanceConfig;
  shares: Share[];
  spec: VmSpec;
  runtime: RuntimeState;
  mode: LaunchMode;
  /** ms per launch step (image, accel, disk, qemu | resume), for `berth start -v`. */
  breakdown: Record<string, number>;
}

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
 * The boot paths of an instance: re-attach to a VM that still runs (the agent crashed), resume a saved
 * state, or boot cold (image, accelerator, identity and files for the guest, disk, then the driver's start).
 */
export class VmLauncher {
  constructor(
    private readonly name: string,
    private readonly driver: Driver,
    private readonly events: EventLog,
    private readonly log: Logger,
    private readonly opts: { cold?: boolean; upgrade?: boolean } = {},
  ) {}

  async launch(): Promise<Launch> {
    const { breakdown, lap } = laps();
    const cfg = await loadInstanceConfig(instanceFile(this.name, 'config'));
    const shares = resolveShares(cfg, instanceFile(this.name, 'config'));
    const existing = await runtimeRecord.read(this.name);
    const qemuPid = await readPid(instanceFile(this.name, 'qemuPid'));
    // Checked on the process: pids recur (pid_max is 32768 on many hosts), and a pid file left by a VM that
    // was killed may name another program by now.
    const vmRuns = await this.driver.runsVm(controlSpecFor(this.name), qemuPid);

    if (vmRuns && existing !== undefined) {
      this.events.progress('reattach', `re-attaching to the running VM (QEMU pid ${qemuPid})`);
      const image = await this.instanceImage(cfg, false);
      const spec = vmSpecFor(
        this.name,
        cfg,
        image,
        existing.accel as VmSpec['accel'],
        existing.sshPort,
        shares,
      );
      return {
        cfg,
        shares,
        spec,
        runtime: { ...existing, agentPid: process.pid },
        mode: 'reattached',
        breakdown,
      };
    }

    if (vmRuns) {
      // A VM no agent recorded: the last agent died between starting QEMU and writing the record (killed
      // mid-start). Nobody was told of it and it holds the disks: it goes (if it is still this instance's
      // QEMU), and the boot starts over.
      this.log.warn(
        { qemuPid },
        'a VM its agent never recorded (the agent died while starting it): stopping it',
      );
      this.events.notice('the last start was cut short while QEMU started: booting again');
      await this.driver.kill({
        pidFile: instanceFile(this.name, 'qemuPid'),
        controlSocket: instanceFile(this.name, 'qmpSock'),
      });
    }

    await this.driver.checkHost(cfg.arch);
    this.events.progress('image', 'preparing the guest image');
    const image = await this.instanceImage(cfg, true);
    const sealLater = await this.checkSeal(image);
    lap('image');
    const { accel, notice } = await this.driver.chooseAccel(
      { requested: cfg.accel, arch: cfg.arch, kernel: image.kernel },
      (m) => this.events.progress('accel', m),
    );
    if (notice) this.events.notice(notice);
    lap('accel');
    const fingerprint = stateFingerprint(cfg, image.id, await this.driver.fingerprint(cfg.arch));
    const sshPort = await freePort();
    const spec = vmSpecFor(this.name, cfg, image, accel, sshPort, shares);
    for (const problem of await this.driver.shareProblems(spec)) {
      this.log.warn(problem);
      this.events.notice(problem);
    }
    await writeGuestFiles(this.name, cfg, shares, this.driver.network);
    await this.writeSyncManifests(shares, false);
    const resumed = await tryResume(this.driver, spec, {
      name: this.name,
      fingerprint,
      cold: this.opts.cold,
      events: this.events,
      log: this.log,
    });
    // QEMU's pid as the driver started it (the pid file is read only after a resume, which started it itself).
    let startedPid: number | undefined;
    if (!resumed) {
      await this.writeSyncManifests(shares, true);
      const freshData = spec.dataDisk !== undefined && !fs.existsSync(spec.dataDisk.file);
      await this.driver.prepareDisk(spec, cfg.disk);
      const info = await instanceInfoRecord.read(this.name);
      if (info && (info.imageDir !== image.dir || (freshData && !info.imageStore)))
        await instanceInfoRecord.write(this.name, {
          ...info,
          imageDir: image.dir,
          // A new data disk: Docker's containerd image store (multi-platform images), as Docker 29 does for
          // new installs.
          ...(freshData && !info.imageStore ? { imageStore: 'containerd' as const } : {}),
        });
      lap('disk');
      this.events.progress(
        'boot',
        `booting the VM (${cfg.arch}, ${cfg.cpus} CPUs, ${Math.round(cfg.memory / 1024 ** 2)} MiB, ${accel})`,
      );
      startedPid = (await this.driver.start(spec)).pid;
    }
    const runtime: RuntimeState = {
      sshPort,
      accel,
      imageId: image.id,
      imageDir: image.dir,
      qemuPid: startedPid ?? (await readPid(spec.pidFile)),
      agentPid: process.pid,
      startedAt: new Date().toISOString(),
      fingerprint,
      // A resumed guest keeps the interpreters it had when it was saved.
      ...(resumed && existing?.platforms ? { platforms: existing.platforms } : {}),
    };
    lap(resumed ? 'resume' : 'qemu');
    if (sealLater) void sealLater();
    return { cfg, shares, spec, runtime, mode: resumed ? 'resumed' : 'cold', breakdown };
  }

  /**
   * The image to boot. Once an instance has a disk, the one it was created from: a newer berth may build a
   * newer image, and an OS disk's kernel modules must match the kernel; a notice says when a newer one is
   * cached and how to move (berth start --upgrade). With `upgrade` (or an upgrade left half-done), the
   * current image, after moving the instance to it (instance/upgrade.ts). New instances: the configured or
   * built-in image.
   */
  private async instanceImage(cfg: InstanceConfig, mayUpgrade: boolean): Promise<GuestImage> {
    const info = await instanceInfoRecord.read(this.name);
    const progress = (m: string) => this.events.progress('image', m);
    const current = () => resolveImage(cfg.image, cfg.arch, runtimeFor(cfg.runtime).guest, progress);
    const hasDisk = fs.existsSync(instanceFile(this.name, 'disk'));
    if (mayUpgrade && (this.opts.upgrade || info?.upgrade) && (hasDisk || info?.upgrade)) {
      const target = (info?.upgrade && (await loadImage(info.upgrade.to))) || (await current());
      const out = await upgradeInstance(this.name, this.driver, target, progress);
      const same = out.from === target.dir;
      this.events.notice(
        out.migrated
          ? `moved the engine's data to its own disk and the OS to ${target.id}: images, containers and volumes are kept`
          : same
            ? `made the OS disk afresh from ${target.id} (already the newest image): images, containers and volumes are kept`
            : `upgraded the OS to ${target.id} (was ${path.basename(out.from ?? '?')}): images, containers and volumes are kept`,
      );
      return target;
    }
    if (info?.imageDir && hasDisk) {
      const pinned = await loadImage(info.imageDir);
      if (!pinned) {
        throw new BerthError(
          'IMAGE',
          `the guest image this instance was created from is gone (${info.imageDir})`,
          {
            // A data disk survives the move; the previous layout's one disk needs its image to be copied.
            hint:
              diskLayout(this.name) === 'data'
                ? `move it to the current image, keeping its data: berth start --upgrade${this.name === 'default' ? '' : ` ${this.name}`}`
                : `recreate the instance: berth delete ${this.name} && berth start ${this.name}`,
          },
        );
      }
      const notice = await upgradeNotice(this.name, pinned, diskLayout(this.name), cfg);
      if (notice) this.events.notice(notice);
      return pinned;
    }
    return current();
  }

  /**
   * Checks the image files against the instance's seal (image/seal.ts) before they boot: a changed kernel,
   * initrd or root filesystem is refused. An image the instance has no seal of yet (a new instance, one moved to
   * a new image, one made before seals) is trusted on first use: it is hashed after the boot, off the start's
   * path, by the function returned.
   */
  private async checkSeal(image: GuestImage): Promise<(() => Promise<void>) | undefined> {
    const info = await instanceInfoRecord.read(this.name);
    // The instance's own seal, else the one recorded when this user built or imported the image.
    const known = info?.imageSeal?.dir === image.dir ? info.imageSeal : await userImageSeal(image.dir);
    if (known) {
      const seal = await checkImageSeal(image, known);
      if (info && JSON.stringify(seal) !== JSON.stringify(info.imageSeal))
        await instanceInfoRecord.write(this.name, { ...info, imageSeal: seal });
      return undefined;
    }
    return async () => {
      try {
        const seal = await sealImage(image);
        const now = await instanceInfoRecord.read(this.name);
        if (now && now.imageDir === image.dir)
          await instanceInfoRecord.write(this.name, { ...now, imageSeal: seal });
      } catch (err) {
        this.log.warn({ err }, 'could not record the image seal');
      }
    };
  }

  /**
   * The manifests of the synchronised folders: their contents for a cold boot, else just present (a resumed
   * guest does not read them; the scan after ready brings it up to date, but the VM must have the same files).
   */
  private async writeSyncManifests(shares: Share[], full: boolean): Promise<void> {
    for (const s of shares.filter((x) => x.sync)) {
      const file = guestFile(this.name, `sync-${s.tag}`);
      const text = full ? await syncManifest(s.hostPath, [berthHome(), imageCacheDir()]) : '';
      if (full || !fs.existsSync(file)) await fsp.writeFile(file, text, { mode: 0o600 });
    }
  }
}
