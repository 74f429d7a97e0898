import type { Arch } from '../../config/schema.js';
import type { SharedFolder, VmSpec } from '../driver.js';
import { FW_CFG_PREFIX } from './fw-cfg.js';
import { NETDEV_ID } from './hostfwd.js';
import { USER_NET } from './user-net.js';

export const QEMU_BINARY: Record<Arch, string> = {
  x86_64: 'qemu-system-x86_64',
  aarch64: 'qemu-system-aarch64',
};

export const KERNEL_CMDLINE = [
  'root=/dev/vda',
  'rw',
  'rootfstype=ext4',
  'rootflags=discard',
  'net.ifnames=0', // eth0 at once, no udev rename to wait for
  'apparmor=0', // the image carries no AppArmor profiles (see docs/architecture.md)
  'panic=-1',
  'quiet',
  'loglevel=4',
  // No legacy devices to probe in a VM: keyboard controller, extra UARTs; trust the TSC.
  'i8042.noaux',
  'i8042.nokbd',
  'i8042.nopnp',
  '8250.nr_uarts=1',
  'tsc=reliable',
  'no_timer_check',
  'cryptomgr.notests',
  'random.trust_cpu=on',
];

/** Kernel command line for a spec. */
export function kernelCmdline(spec: Pick<VmSpec, 'arch' | 'accel' | 'hostname'>): string {
  return [
    consoleFor(spec.arch),
    ...KERNEL_CMDLINE,
    `berth.hostname=${spec.hostname}`,
    // Images from before berth-init (systemd inside; instances stay pinned to the image they were made from)
    // take the hostname from this one.
    `systemd.hostname=${spec.hostname}`,
    // Where the guest finds the files the host hands it (see fw-cfg.ts).
    `berth.fwcfg=${FW_CFG_PREFIX}`,
    // Under TCG only (see docs/architecture.md, "Boot trimming"):
    // - mitigations=off: the CPU is emulated; speculative-execution mitigations only cost time there.
    // - ASLR off: QEMU 7.2 keys translated code by virtual address, so a library mapped at a new address in
    //   every process is translated again for every exec (3 MB of host code per /bin/true; fork+exec 25 ms
    //   with ASLR, 10 ms without).
    // - init_on_alloc=0 (Debian turns it on; upstream's default is off): zeroing every kernel allocation is
    //   emulated memset; fork+exec of a static binary 5.3-6.9 -> 4.5 ms, an iptables call 12-14 -> 10 ms.
    ...(spec.accel === 'tcg' ? ['mitigations=off', 'norandmaps', 'init_on_alloc=0'] : []),
  ].join(' ');
}

function consoleFor(arch: Arch): string {
  return arch === 'x86_64' ? 'console=ttyS0' : 'console=ttyAMA0';
}

function machineFor(spec: VmSpec): string[] {
  return ['-machine', spec.arch === 'x86_64' ? 'q35' : 'virt'];
}

function cpuFor(spec: VmSpec): string[] {
  // Emulated aarch64: cortex-a57 (ARMv8.0, what arm64 images target) avoids "max"'s pointer
  // authentication and SVE, which are costly to emulate.
  if (spec.accel === 'tcg')
    return [
      '-accel',
      `tcg,thread=${spec.tcg?.thread ?? 'multi'},tb-size=256`,
      '-cpu',
      spec.tcg?.cpu ?? (spec.arch === 'aarch64' ? 'cortex-a57' : 'max'),
    ];
  return ['-accel', spec.accel, '-cpu', 'host'];
}

/** QEMU's option syntax doubles commas inside a value. */
function optValue(v: string): string {
  return v.replace(/,/g, ',,');
}

/**
 * A host folder over virtio-9p. multidevs=remap keeps inode numbers unique when the folder spans several host
 * filesystems. The security model:
 * - none (berth run as a user): files are created as that user, and the guest sees and sets the host's real
 *   modes; a chown from the guest is ignored.
 * - mapped-xattr (berth run as root): QEMU, which runs as root without capabilities, creates files 0600/0700
 *   and keeps the guest's owner, mode and file type in user.virtfs.* attributes. No set-id bit, device node or
 *   guest owner ever reaches the host's inodes; a symlink made in the guest is a plain file on the host.
 */
export function shareModel(spec: Pick<VmSpec, 'asRoot'>): 'none' | 'mapped-xattr' {
  return spec.asRoot ? 'mapped-xattr' : 'none';
}

function shareArgs(s: SharedFolder, i: number, model: 'none' | 'mapped-xattr'): string[] {
  const fsdev = [
    `local,id=fs${i}`,
    `path=${optValue(s.hostPath)}`,
    `security_model=${model}`,
    'multidevs=remap',
  ];
  if (!s.writable) fsdev.push('readonly=on');
  return ['-fsdev', fsdev.join(','), '-device', `virtio-9p-pci,fsdev=fs${i},mount_tag=${s.tag}`];
}

/**
 * How QEMU is started as root (VmSpec.asRoot): through util-linux's setpriv, which empties the capability
 * bounding and inheritable sets and sets no_new_privs before it runs QEMU. QEMU keeps uid 0 but holds no
 * capability: it cannot override file permissions, change owners, make device nodes or trusted/security
 * xattrs, or bind privileged ports, and nothing it runs can gain them back.
 */
export const DROP_ALL_CAPS = ['--bounding-set=-all', '--inh-caps=-all', '--no-new-privs', '--'];

/** Builds the QEMU command line for a spec. Pure: no files are touched. */
export function buildQemuArgs(spec: VmSpec): string[] {
  const mem = Math.floor(spec.memoryBytes / 1024 ** 2);
  const args = [
    '-name',
    `berth-${spec.name}`,
    ...machineFor(spec),
    ...cpuFor(spec),
    '-smp',
    String(spec.cpus),
    '-m',
    `${mem}M`,
    '-nodefaults',
    '-no-user-config',
    // seccomp: no obsolete system calls, no change of user or group, no scheduling or memory-policy changes.
    // (spawn stays allowed: a suspend saves the state through an exec: migration, QEMU 7.2 having no file:.)
    '-sandbox',
    'on,obsolete=deny,elevateprivileges=deny,resourcecontrol=deny',
    '-display',
    'none',
    '-vga',
    'none',
    '-kernel',
    spec.image.kernel,
    '-initrd',
    spec.image.initrd,
    '-append',
    kernelCmdline(spec),
    '-drive',
    `if=none,id=root,file=${optValue(spec.disk)},format=qcow2,cache=writeback,discard=unmap,aio=threads`,
    '-device',
    'virtio-blk-pci,drive=root',
    // The data disk, which the guest finds by its serial.
    ...(spec.dataDisk
      ? [
          '-drive',
          `if=none,id=data,file=${optValue(spec.dataDisk.file)},format=qcow2,cache=writeback,discard=unmap,aio=threads`,
          '-device',
          `virtio-blk-pci,drive=data,serial=${spec.dataDisk.serial}`,
        ]
      : []),
    '-netdev',
    `user,id=${NETDEV_ID},net=${USER_NET.subnet},hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`,
    '-device',
    `virtio-net-pci,netdev=${NETDEV_ID}`,
    // A cluster's own segment: every node's QEMU joins one multicast group on the host's loopback (no switch
    // process to lose, nothing leaves the host: the group is sent on lo only). After the user network, so that
    // one stays eth0; the guest finds this card by its MAC.
    ...(spec.lan
      ? [
          '-netdev',
          `socket,id=lan,mcast=${spec.lan.segment},localaddr=127.0.0.1`,
          '-device',
          `virtio-net-pci,netdev=lan,mac=${spec.lan.mac}`,
        ]
      : []),
    '-device',
    'virtio-rng-pci',
    // Free page reporting: the guest hands pages it frees back to the host (RSS shrinks; a suspended
    // state holds only memory in use).
    '-device',
    'virtio-balloon-pci,free-page-reporting=on',
    // The RTC follows the host clock, so a resumed guest can read the right time from it.
    '-rtc',
    'base=utc,clock=host',
    '-chardev',
    // Appended (O_APPEND), so the agent can cut it when the guest floods it (see host-agent.ts).
    `file,id=serial0,path=${optValue(spec.serialLog)},append=on`,
    '-serial',
    'chardev:serial0',
    '-chardev',
    `socket,id=events,path=${optValue(spec.eventSocket)},server=on,wait=off`,
    '-device',
    'virtio-serial-pci',
    '-device',
    `virtserialport,chardev=events,name=${spec.eventChannel}`,
    '-qmp',
    `unix:${optValue(spec.controlSocket)},server=on,wait=off`,
    // The host agent's own monitor, held open for the VM's events (why it ends, disk errors): the control
    // socket above stays free for one-off commands.
    '-chardev',
    `socket,id=watch,path=${optValue(spec.watchSocket)},server=on,wait=off`,
    '-mon',
    'chardev=watch,mode=control',
    // A guest reboot (the kernel's panic=-1 makes a panic one) ends QEMU with a SHUTDOWN event saying so:
    // the host agent restarts the VM per its restart policy, instead of a reboot it would not see.
    '-action',
    'reboot=shutdown',
    '-pidfile',
    spec.pidFile,
  ];
  spec.shares.forEach((s, i) => args.push(...shareArgs(s, i, shareModel(spec))));
  if (spec.incoming) args.push('-incoming', 'defer');
  for (const [name, file] of Object.entries(spec.guestFiles)) {
    args.push('-fw_cfg', `name=${FW_CFG_PREFIX}/${name},file=${optValue(file)}`);
  }
  return args;
}
