import { randomBytes } from 'node:crypto';
/** Every on-disk name berth uses, in one place. Paths are relative to an instance directory. */
export const FILES = {
  config: 'berth.yaml',
  disk: 'disk.qcow2',
  /** The engine's state (guest: /var/lib/docker, /var/lib/containerd, /var/lib/berth); kept by upgrades. */
  dataDisk: 'data.qcow2',
  qemuPid: 'qemu.pid',
  qmpSock: 'qmp.sock',
  /** A second QMP monitor the host agent holds open for the VM's events (why it stopped, disk errors). */
  qmpWatchSock: 'qmp-watch.sock',
  /** The VM's unexpected exits and what the restart policy did (hostagent/restart-policy.ts). */
  crashes: 'crashes.json',
  serialLog: 'serial.log',
  /** QEMU's own stderr (its refusal to start, if any). */
  qemuStderr: 'serial.log.qemu-stderr',
  agentPid: 'ha.pid',
  /** The agent's supervisor (restarts a host agent that died while its VM runs). */
  supervisorPid: 'ha-supervisor.pid',
  agentSock: 'ha.sock',
  agentLog: 'ha.log',
  agentStdio: 'ha.stdio.log',
  dockerSock: 'docker.sock',
  runtime: 'runtime.json',
  hostKey: 'ssh_host_ed25519_key',
  hostKeyPub: 'ssh_host_ed25519_key.pub',
  /** The key berth logs in to this instance's guest with: one per instance, so a guest learns no other's. */
  userKey: 'user_ed25519',
  userKeyPub: 'user_ed25519.pub',
  startLock: 'start.lock',
  instanceInfo: 'instance.json',
  fwCfgDir: 'fw_cfg',
  eventsSock: 'events.sock',
  suspendState: 'suspend.state',
  suspendMeta: 'suspend.json',
} as const;

/** The folder under BERTH_HOME for the user's own files (not an instance: names start with a letter or digit). */
export const HOME_CONFIG_DIR = '_config';

/** Names under BERTH_HOME itself (instance names may not collide with these: they start with "_"). */
export const HOME_FILES = {
  accelProbe: `${HOME_CONFIG_DIR}/accel-probe.json`,
  /** The seals (image/seal.ts) of the images this user built or imported, by image folder. */
  imageSeals: `${HOME_CONFIG_DIR}/image-seals.json`,
  /** The running dashboard server: pid, port and the URL with its token (0600). */
  dashboard: `${HOME_CONFIG_DIR}/dashboard.json`,
  dashboardLog: `${HOME_CONFIG_DIR}/dashboard.log`,
} as const;

/** Names in the image cache (XDG cache dir): image folders, and work folders renamed into place when done. */
export const CACHE_FILES = {
  /** built-<arch>-<recipe hash>: an image berth built. */
  builtPrefix: 'built-',
  /** sha256-<digest of the archive>: an imported prebuilt image. */
  importedPrefix: 'sha256-',
  buildPrefix: '.build-',
  importPrefix: '.import-',
} as const;

/** A guest image in the cache: a folder with these files. */
export const IMAGE_FILES = {
  /** x86_64: the uncompressed kernel with its PVH entry (see image/kernel.ts); otherwise Debian's as shipped. */
  kernel: 'vmlinuz',
  initrd: 'initrd.img',
  rootfs: 'rootfs.qcow2',
  manifest: 'image.json',
} as const;

/**
 * The temp file beside `file` that is written and then renamed over it, so no reader (and no crash) ever sees
 * half a file. `unique`: one per writer (several processes may write the same file at once).
 */
export function tempFile(file: string, unique = false): string {
  // unique: not guessable (a name beside a file in a folder others can write, such as /tmp, must not be).
  return unique ? `${file}.tmp-${randomBytes(8).toString('hex')}` : `${file}.tmp`;
}
