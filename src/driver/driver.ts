import type { Accel, Arch } from '../config/schema.js';
import type { GuestImage } from '../image/image.js';

/** What a driver needs to boot one instance. */
export interface VmSpec {
  name: string;
  dir: string;
  arch: Arch;
  cpus: number;
  memoryBytes: number;
  accel: Exclude<Accel, 'auto'>;
  image: GuestImage;
  /** Instance's writable disk (qcow2 overlay on the image). */
  disk: string;
  /** Host TCP port on 127.0.0.1 forwarded to the guest's sshd. */
  sshPort: number;
  /** Guest hostname (set by systemd from the kernel command line, before anything starts). */
  hostname: string;
  /** fw_cfg entries: name (under opt/berth) → host file. */
  fwCfg: Record<string, string>;
  serialLog: string;
  qmpSocket: string;
  /** Unix socket (server side: QEMU) for guest → host events over virtio-serial. */
  eventSocket: string;
  pidFile: string;
  /** Start paused, waiting for a saved state to be loaded (resume after suspend). */
  incoming?: boolean;
}

/** The handles needed to observe and stop a VM that is already running. */
export type VmControl = Pick<VmSpec, 'pidFile' | 'qmpSocket'>;

export type VmState = 'running' | 'paused' | 'stopped';

/** Boot, observe and stop a VM. One implementation per hypervisor (qemu now; vz, wsl2 later). */
export interface Lifecycle {
  /** Creates the instance disk from the image (copy-on-write) or grows it. */
  prepareDisk(spec: VmSpec, diskBytes: number): Promise<void>;
  /** Starts the VM process detached; resolves once it is running (not once the guest is ready). */
  start(spec: VmSpec): Promise<{ pid: number }>;
  state(vm: VmControl): Promise<VmState>;
  /** Asks the guest to shut down (ACPI); resolves when the VM process exited or the timeout passed. */
  shutdown(vm: VmControl, timeoutMs: number): Promise<boolean>;
  /** Stops the VM at once (disks may lose unsynced writes, like pulling the plug). */
  kill(vm: VmControl): Promise<void>;
}

/** Saves a running VM's whole state to a file and brings it back (suspend/resume). */
export interface StateManager {
  /** Pauses the VM and writes its state to `file`; resolves with the file's size. The VM stays paused. */
  saveState(vm: VmControl, file: string): Promise<number>;
  /** Loads `file` into a VM started with `incoming: true` and lets it run. Rejects if the state is unusable. */
  loadState(vm: VmControl, file: string): Promise<void>;
}

export interface Driver extends Lifecycle, StateManager {
  readonly name: string;
}
