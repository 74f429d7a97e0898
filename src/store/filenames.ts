/** Every on-disk name berth uses, in one place. Paths are relative to an instance directory. */
export const FILES = {
  config: 'berth.yaml',
  disk: 'disk.qcow2',
  qemuPid: 'qemu.pid',
  qmpSock: 'qmp.sock',
  serialLog: 'serial.log',
  /** QEMU's own stderr (its refusal to start, if any). */
  qemuStderr: 'serial.log.qemu-stderr',
  agentPid: 'ha.pid',
  agentSock: 'ha.sock',
  agentLog: 'ha.log',
  agentStdio: 'ha.stdio.log',
  dockerSock: 'docker.sock',
  runtime: 'runtime.json',
  hostKey: 'ssh_host_ed25519_key',
  hostKeyPub: 'ssh_host_ed25519_key.pub',
  startLock: 'start.lock',
  instanceInfo: 'instance.json',
  fwCfgDir: 'fw_cfg',
  eventsSock: 'events.sock',
  suspendState: 'suspend.state',
  suspendMeta: 'suspend.json',
} as const;

/** Names under BERTH_HOME itself (instance names may not collide with these: they start with "_"). */
export const HOME_FILES = {
  userKey: '_config/user_ed25519',
  userKeyPub: '_config/user_ed25519.pub',
  accelProbe: '_config/accel-probe.json',
} as const;

/** Names in the image cache (XDG cache dir) besides the images themselves: work dirs, renamed into place. */
export const CACHE_FILES = {
  buildPrefix: '.build-',
  importPrefix: '.import-',
} as const;

/**
 * The temp file beside `file` that is written and then renamed over it, so no reader (and no crash) ever sees
 * half a file. `unique`: one per writer (several processes may write the same file at once).
 */
export function tempFile(file: string, unique = false): string {
  return unique ? `${file}.tmp-${process.pid}-${Date.now()}` : `${file}.tmp`;
}
