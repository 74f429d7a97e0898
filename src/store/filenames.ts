/** Every on-disk name berth uses, in one place. Paths are relative to an instance directory. */
export const FILES = {
  config: 'berth.yaml',
  disk: 'disk.qcow2',
  qemuPid: 'qemu.pid',
  qmpSock: 'qmp.sock',
  serialLog: 'serial.log',
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
