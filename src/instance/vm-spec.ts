import path from 'node:path';
import { DATA_DISK_SERIAL, GUEST_CHANNEL_NAME } from '../guest/guest-config.js';
import type { ClusterNodeConfig, InstanceConfig } from '../config/schema.js';
import type { SharedFolder, VmSpec } from '../driver/driver.js';
import type { GuestImage } from '../image/image.js';
import { FILES } from '../store/filenames.js';
import { instanceDir } from '../store/paths.js';
import { diskLayout } from './upgrade.js';

/** A file handed to the guest at boot (see VmSpec.guestFiles), kept in the instance dir. */
export function guestFile(name: string, entry: string): string {
  return path.join(instanceDir(name), FILES.fwCfgDir, entry);
}

export function vmSpecFor(
  name: string,
  cfg: InstanceConfig,
  image: GuestImage,
  accel: VmSpec['accel'],
  sshPort: number,
  shares: (SharedFolder & { sync?: boolean })[] = [],
): VmSpec {
  const dir = instanceDir(name);
  return {
    name,
    dir,
    arch: cfg.arch,
    cpus: cfg.cpus,
    memoryBytes: cfg.memory,
    accel,
    image,
    disk: path.join(dir, FILES.disk),
    ...(diskLayout(name) === 'data'
      ? { dataDisk: { file: path.join(dir, FILES.dataDisk), serial: DATA_DISK_SERIAL } }
      : {}),
    sshPort,
    hostname: `berth-${name}`,
    guestFiles: {
      authorized_keys: guestFile(name, 'authorized_keys'),
      ssh_host_ed25519_key: path.join(dir, FILES.hostKey),
      'ssh_host_ed25519_key.pub': path.join(dir, FILES.hostKeyPub),
      binfmt: guestFile(name, 'binfmt'),
      mounts: guestFile(name, 'mounts'),
      hide: guestFile(name, 'hide'),
      network: guestFile(name, 'network'),
      // The engine's settings (the runtime's: Docker's daemon.json), applied before it starts.
      engine: guestFile(name, 'engine'),
      // What a synchronised folder holds at boot (see syncManifest).
      ...Object.fromEntries(
        shares.filter((s) => s.sync).map((s) => [`sync-${s.tag}`, guestFile(name, `sync-${s.tag}`)]),
      ),
    },
    shares: shares.map(({ tag, hostPath, writable }) => ({ tag, hostPath, writable })),
    // Only when allowed (BERTH_ALLOW_ROOT=1): QEMU then drops every capability and maps the shares' owners.
    ...(process.getuid?.() === 0 ? { asRoot: true } : {}),
    ...tcgTuning(process.env),
    ...(cfg.cluster ? { lan: { segment: cfg.cluster.segment, mac: cfg.cluster.mac } } : {}),
    serialLog: path.join(dir, FILES.serialLog),
    controlSocket: path.join(dir, FILES.qmpSock),
    watchSocket: path.join(dir, FILES.qmpWatchSock),
    eventSocket: path.join(dir, FILES.eventsSock),
    eventChannel: GUEST_CHANNEL_NAME,
    pidFile: path.join(dir, FILES.qemuPid),
  };
}

/** Spec for operations that need only paths (state, shutdown, kill) of an instance. */
export function controlSpecFor(
  name: string,
): Pick<VmSpec, 'pidFile' | 'controlSocket' | 'watchSocket' | 'dir'> {
  const dir = instanceDir(name);
  return {
    dir,
    pidFile: path.join(dir, FILES.qemuPid),
    controlSocket: path.join(dir, FILES.qmpSock),
    watchSocket: path.join(dir, FILES.qmpWatchSock),
  };
}

/**
 * The cluster lines of the guest's `network` entry (guest/PROTOCOL.md): the second card's address, found by its
 * MAC, and the registry's address; empty for an instance outside a cluster.
 */
export function clusterNetworkEntry(c: ClusterNodeConfig | undefined): string {
  if (!c) return '';
  return (
    [
      `lan_address=${c.address}`,
      `lan_prefix=${c.prefix}`,
      `lan_mac=${c.mac}`,
      `registry=${c.registry}`,
      `registry_serve=${c.serveRegistry ? 1 : 0}`,
    ].join('\n') + '\n'
  );
}

/**
 * Emulation settings for measuring them (bench/boot-soak.ts): BERTH_TCG_THREAD=single|multi and BERTH_TCG_CPU
 * (a QEMU CPU model). Nothing else sets them; a value QEMU does not know fails the start with QEMU's message.
 */
export function tcgTuning(env: NodeJS.ProcessEnv): Pick<VmSpec, 'tcg'> {
  const thread =
    env.BERTH_TCG_THREAD === 'single' || env.BERTH_TCG_THREAD === 'multi' ? env.BERTH_TCG_THREAD : undefined;
  const cpu =
    env.BERTH_TCG_CPU && /^[A-Za-z0-9_.,=+-]+$/.test(env.BERTH_TCG_CPU) ? env.BERTH_TCG_CPU : undefined;
  return thread || cpu ? { tcg: { ...(thread ? { thread } : {}), ...(cpu ? { cpu } : {}) } } : {};
}
