import type { Accel, Arch } from '../config/schema.js';
import type { GuestImage } from '../image/image.js';

/** A host folder exported to the guest (QEMU: virtio-9p with this mount tag). */
export interface SharedFolder {
  tag: string;
  hostPath: string;
  writable: boolean;
}

/** One forwarding from a host address to a guest address, done by the hypervisor's network. */
export interface HostForward {
  proto: 'tcp' | 'udp';
  hostIP: string;
  hostPort: number;
  guestIP: string;
  guestPort: number;
}

/** What a driver needs to boot one instance. */
export interface VmSpec {
  name: string;
  dir: string;
  arch: Arch;
  cpus: number;
  memoryBytes: number;
  accel: Exclude<Accel, 'auto'>;
  image: GuestImage;
  /**
   * The instance's OS disk: a copy-on-write overlay on the image, replaced by an upgrade. With `dataDisk`, the
   * engine's state is not on it.
   */
  disk: string;
  /**
   * The instance's data disk (the engine's state: images, containers, volumes), the guest's to format; absent
   * for an instance of the previous layout, whose state is still on its OS disk. The guest finds it by its
   * serial (guest/PROTOCOL.md).
   */
  dataDisk?: { file: string; serial: string };
  /** Host TCP port on 127.0.0.1 forwarded to the guest's sshd. */
  sshPort: number;
  /** Guest hostname (on the kernel command line: berth-init sets it before anything starts). */
  hostname: string;
  /**
   * Files handed to the guest at boot (name → host file): identity, mount table, network. How they reach the
   * guest is the driver's business (QEMU: fw_cfg entries; guest/PROTOCOL.md lists the names).
   */
  guestFiles: Record<string, string>;
  serialLog: string;
  /** The hypervisor's control socket (QEMU: QMP). */
  controlSocket: string;
  /** Where the host agent watches the VM's events (QEMU: a second QMP monitor, held open). */
  watchSocket: string;
  /** Unix socket (server side: QEMU) for guest → host events over virtio-serial. */
  eventSocket: string;
  /** The guest channel's port name, which the guest looks for (guest/PROTOCOL.md). */
  eventChannel: string;
  pidFile: string;
  /** Host folders exported to the guest. */
  shares: SharedFolder[];
  /**
   * A second network card on a cluster's segment (berth cluster): a multicast group:port on the host's
   * loopback that every node of the cluster joins, and this node's MAC address there.
   */
  lan?: { segment: string; mac: string };
  /** Start paused, waiting for a saved state to be loaded (resume after suspend). */
  incoming?: boolean;
  /**
   * berth runs as root (allowed by BERTH_ALLOW_ROOT=1). The hypervisor must not serve the guest with root's
   * powers: it runs without any capability, and shared folders keep the guest's owners, modes and special files
   * in extended attributes instead of applying them to the host's files (QEMU: 9p's mapped-xattr model).
   */
  asRoot?: boolean;
  /**
   * Emulation settings other than berth's defaults, for measuring them (bench/boot-soak.ts, through
   * BERTH_TCG_THREAD and BERTH_TCG_CPU): TCG's threading and the emulated CPU model.
   */
  tcg?: { thread?: 'single' | 'multi'; cpu?: string };
}

/** The handles needed to observe and stop a VM that is already running. */
export type VmControl = Pick<VmSpec, 'pidFile' | 'controlSocket'> & Partial<Pick<VmSpec, 'watchSocket'>>;

/**
 * What the hypervisor says about a running VM (Lifecycle.watch). `shutdown`: the VM is about to end, and why
 * (`guest`: the guest asked for it; reason `guest-shutdown` is a power-off, `guest-reset` a reboot or a kernel
 * panic, which berth's guests turn into a reboot). `io-error`: a disk write failed (`noSpace`: the host file
 * system is full) and the VM paused. `paused`/`resumed`: the VM stopped or went on running.
 */
export type VmEvent =
  | { type: 'shutdown'; guest: boolean; reason: string }
  | { type: 'io-error'; device: string; noSpace: boolean; message: string }
  | { type: 'paused'; reason?: string }
  | { type: 'resumed' };

/** An open watch on a VM: `gone` resolves when the hypervisor's side closed (the VM process ended). */
export interface VmWatch {
  gone: Promise<void>;
  close(): void;
}

export type VmState = 'running' | 'paused' | 'stopped';

/** Boot, observe and stop a VM. One implementation per hypervisor (qemu now; vz, wsl2 later). */
export interface Lifecycle {
  /**
   * Creates the instance's disks (the OS disk copy-on-write from the image; the data disk empty) or grows the
   * one that carries the state to `diskBytes`.
   */
  prepareDisk(spec: VmSpec, diskBytes: number): Promise<void>;
  /** Writes `to` as a standalone copy of the disk `from` (with its image's blocks): an upgrade's hand-over. */
  flattenDisk(from: string, to: string): Promise<void>;
  /** Starts the VM process detached; resolves once it is running (not once the guest is ready). */
  start(spec: VmSpec): Promise<{ pid: number }>;
  state(vm: VmControl): Promise<VmState>;
  /**
   * Follows the VM's events until it ends; undefined when this VM cannot be watched (one started by an older
   * berth, without a watch socket). One watcher at a time.
   */
  watch(vm: VmControl, onEvent: (e: VmEvent) => void): Promise<VmWatch | undefined>;
  /** Lets a paused VM run again (after an I/O error that has gone away); false if it would not. */
  resume(vm: VmControl): Promise<boolean>;
  /** Asks the guest to shut down (ACPI); resolves when the VM process exited or the timeout passed. */
  shutdown(vm: VmControl, timeoutMs: number): Promise<boolean>;
  /** Stops the VM at once (disks may lose unsynced writes, like pulling the plug). */
  kill(vm: VmControl): Promise<void>;
  /**
   * Whether `pid` (read from the VM's pid file) is this VM's process still running, checked on the process
   * itself: a stale pid file may name a recycled pid by now.
   */
  runsVm(vm: VmControl, pid: number | undefined): Promise<boolean>;
  /**
   * Kills those of `pids` that are still instance `name`'s VM (checked on the process itself, so a recycled
   * pid is left alone): the last guard before an instance's disk is deleted.
   */
  killLeftovers(name: string, pids: number[]): Promise<void>;
}

/** Saves a running VM's whole state to a file and brings it back (suspend/resume). */
export interface StateManager {
  /** Pauses the VM and writes its state to `file`; resolves with the file's size. The VM stays paused. */
  saveState(vm: VmControl, file: string): Promise<number>;
  /** Loads `file` into a VM started with `incoming: true` and lets it run. Rejects if the state is unusable. */
  loadState(vm: VmControl, file: string): Promise<void>;
}

/**
 * Port forwarding done by the VM's network itself (QEMU: user-mode network hostfwd rules, changed at run
 * time): no copy through the host agent, no encryption on the data path.
 */
export interface PortForwarding {
  listForwards(vm: VmControl): Promise<HostForward[]>;
  /** Rejects with the hypervisor's reason when the host port cannot be bound. */
  addForward(vm: VmControl, f: HostForward): Promise<void>;
  removeForward(vm: VmControl, f: Pick<HostForward, 'proto' | 'hostIP' | 'hostPort'>): Promise<void>;
}

/** The guest's addresses on the VM's own network, as the driver sets it up (forward targets, DNS, the host). */
export interface GuestNetwork {
  /** The guest's own address (forwards to wildcard listeners go here) and its prefix length. */
  guest: string;
  prefixLength: number;
  /** The guest's default route. */
  gateway: string;
  /** The resolver the guest's own DNS server forwards to. */
  dns: string;
  /** The address that reaches the host's loopback (host.berth.internal). */
  host: string;
  /** A guest address rewritten to the guest's 127.0.0.1 (forwards to loopback-only listeners go here). */
  loopback: string;
}

/** The `network` file the guest reads at boot: one `key=value` per line (shell and Perl read it alike). */
export function guestNetworkEntry(net: GuestNetwork): string {
  return (
    [
      `address=${net.guest}`,
      `prefix=${net.prefixLength}`,
      `gateway=${net.gateway}`,
      `dns=${net.dns}`,
      `host=${net.host}`,
      `loopback=${net.loopback}`,
    ].join('\n') + '\n'
  );
}

/** What a driver can do: the agent asks this instead of assuming one hypervisor. */
export interface DriverFeatures {
  /** Saves and restores a running VM (berth suspend, warm start). */
  suspend: boolean;
  /** Host ports forwarded by the VM's network, changed at run time (no copy through the agent). */
  hostForwards: boolean;
  /** How host folders are shared. */
  sharing: '9p';
  /** Accelerators it knows, software emulation included. */
  accelerators: Exclude<Accel, 'auto'>[];
}

/** What a start needs to choose the accelerator: the YAML's choice and the kernel a probe would boot. */
export interface AccelRequest {
  requested: Accel;
  arch: Arch;
  kernel: string;
}

/** Host-side facts about the hypervisor. */
export interface HostSupport {
  /** Throws MISSING_DEPENDENCY (naming the package) when the host cannot run a VM of this arch. */
  checkHost(arch: Arch): Promise<void>;
  /** The accelerator to use; `notice` when auto fell back (e.g. a KVM that cannot boot a kernel). */
  chooseAccel(
    req: AccelRequest,
    progress: (message: string) => void,
  ): Promise<{ accel: Exclude<Accel, 'auto'>; notice?: string }>;
  /** Identifies the hypervisor build (binary, version): a saved state resumes only on the same one. */
  fingerprint(arch: Arch): Promise<string>;
  /** What the user should know about how a VM's shared folders will be served (one line each; [] = nothing). */
  shareProblems(spec: VmSpec): Promise<string[]>;
}

export interface Driver extends Lifecycle, StateManager, PortForwarding, HostSupport {
  readonly name: string;
  readonly features: DriverFeatures;
  readonly network: GuestNetwork;
}
