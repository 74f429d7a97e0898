import { describe, expect, it } from 'vitest';
import type { VmSpec } from '../driver.js';
import { buildQemuArgs } from './args.js';

const spec = (over: Partial<VmSpec> = {}): VmSpec => ({
  name: 'dev',
  dir: '/h/dev',
  arch: 'x86_64',
  cpus: 2,
  memoryBytes: 3 * 1024 ** 3,
  accel: 'tcg',
  image: {
    id: 'img',
    dir: '/c/img',
    kernel: '/c/img/vmlinuz',
    initrd: '/c/img/initrd.img',
    rootfs: '/c/img/rootfs.qcow2',
    manifest: { format: 1, arch: 'x86_64', source: 'built:x', kernelVersion: '6.1', createdAt: '' },
  },
  disk: '/h/dev/disk.qcow2',
  sshPort: 40022,
  hostname: 'berth-dev',
  guestFiles: { authorized_keys: '/h/dev/fw_cfg/authorized_keys' },
  serialLog: '/h/dev/serial.log',
  controlSocket: '/h/dev/qmp.sock',
  watchSocket: '/h/dev/qmp-watch.sock',
  eventSocket: '/h/dev/events.sock',
  eventChannel: 'io.berth.events',
  pidFile: '/h/dev/qemu.pid',
  shares: [],
  ...over,
});

function valueAfter(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

describe('buildQemuArgs', () => {
  it('boots the kernel directly with virtio disk and network', () => {
    const a = buildQemuArgs(spec());
    expect(valueAfter(a, '-kernel')).toEqual(['/c/img/vmlinuz']);
    expect(valueAfter(a, '-initrd')).toEqual(['/c/img/initrd.img']);
    expect(valueAfter(a, '-append')[0]).toMatch(/^console=ttyS0 root=\/dev\/vda rw .*apparmor=0/);
    expect(valueAfter(a, '-device')).toContain('virtio-blk-pci,drive=root');
    expect(valueAfter(a, '-device')).toContain('virtio-net-pci,netdev=net0');
    expect(valueAfter(a, '-drive')[0]).toMatch(/file=\/h\/dev\/disk\.qcow2,format=qcow2/);
  });

  it('sets cpus, memory in MiB and TCG multi-threading', () => {
    const a = buildQemuArgs(spec());
    expect(valueAfter(a, '-smp')).toEqual(['2']);
    expect(valueAfter(a, '-m')).toEqual(['3072M']);
    expect(valueAfter(a, '-accel')[0]).toMatch(/^tcg,thread=multi/);
    expect(valueAfter(a, '-cpu')).toEqual(['max']);
    expect(valueAfter(a, '-append')[0]).toMatch(/ mitigations=off norandmaps init_on_alloc=0$/);
  });

  it("TCG's threading and CPU model can be set for measuring them (the boot soak), defaults otherwise", () => {
    const a = buildQemuArgs(spec({ tcg: { thread: 'single', cpu: 'qemu64' } }));
    expect(valueAfter(a, '-accel')[0]).toMatch(/^tcg,thread=single,/);
    expect(valueAfter(a, '-cpu')).toEqual(['qemu64']);
    expect(valueAfter(buildQemuArgs(spec({ tcg: {} })), '-cpu')).toEqual(['max']);
  });

  it("a cluster node: a second card on the segment's multicast group, sent on the host's loopback only", () => {
    expect(valueAfter(buildQemuArgs(spec()), '-netdev')).toHaveLength(1);
    const a = buildQemuArgs(spec({ lan: { segment: '239.255.3.5:20006', mac: '52:54:00:d5:2a:0b' } }));
    expect(valueAfter(a, '-netdev')[1]).toBe('socket,id=lan,mcast=239.255.3.5:20006,localaddr=127.0.0.1');
    const devices = valueAfter(a, '-device');
    // The user network stays eth0: its card comes first.
    expect(devices.indexOf('virtio-net-pci,netdev=net0')).toBeLessThan(
      devices.indexOf('virtio-net-pci,netdev=lan,mac=52:54:00:d5:2a:0b'),
    );
  });

  it('sets the hostname on the kernel command line', () => {
    expect(valueAfter(buildQemuArgs(spec()), '-append')[0]).toContain(' berth.hostname=berth-dev');
  });

  it('uses the host CPU under KVM', () => {
    const a = buildQemuArgs(spec({ accel: 'kvm' }));
    expect(valueAfter(a, '-accel')).toEqual(['kvm']);
    expect(valueAfter(a, '-cpu')).toEqual(['host']);
    expect(valueAfter(a, '-append')[0]).not.toMatch(/mitigations=off|norandmaps|init_on_alloc/);
  });

  it('runs QEMU under its seccomp sandbox', () => {
    expect(valueAfter(buildQemuArgs(spec()), '-sandbox')).toEqual([
      'on,obsolete=deny,elevateprivileges=deny,resourcecontrol=deny',
    ]);
  });

  it('forwards SSH only on loopback', () => {
    const a = buildQemuArgs(spec());
    expect(valueAfter(a, '-netdev')[0]).toContain('hostfwd=tcp:127.0.0.1:40022-:22');
  });

  it('doubles the commas of paths inside option lists: a folder name cannot add a QEMU option', () => {
    const d = '/h/a,readonly=off,x';
    const a = buildQemuArgs(
      spec({
        disk: `${d}/disk.qcow2`,
        dataDisk: { file: `${d}/data.qcow2`, serial: 'berth-data' },
        serialLog: `${d}/serial.log`,
        eventSocket: `${d}/events.sock`,
        controlSocket: `${d}/qmp.sock`,
      }),
    );
    // Every comma of the folder name doubled wherever it appears.
    expect(a.filter((x) => /\/h\/a,(?!,)/.test(x))).toEqual([]);
    expect(valueAfter(a, '-drive')[0]).toContain('file=/h/a,,readonly=off,,x/disk.qcow2,format=qcow2');
    expect(valueAfter(a, '-qmp')).toEqual(['unix:/h/a,,readonly=off,,x/qmp.sock,server=on,wait=off']);
  });

  it("holds a second QMP monitor for the agent's watch, and turns a guest reboot into an end it can see", () => {
    const a = buildQemuArgs(spec());
    expect(valueAfter(a, '-chardev')).toContain(
      'socket,id=watch,path=/h/dev/qmp-watch.sock,server=on,wait=off',
    );
    expect(valueAfter(a, '-mon')).toEqual(['chardev=watch,mode=control']);
    expect(valueAfter(a, '-action')).toEqual(['reboot=shutdown']);
  });

  it('has QMP, serial log, pid file, the events port and fw_cfg entries', () => {
    const a = buildQemuArgs(spec());
    expect(valueAfter(a, '-qmp')).toEqual(['unix:/h/dev/qmp.sock,server=on,wait=off']);
    expect(a).toContain('file,id=serial0,path=/h/dev/serial.log,append=on');
    expect(valueAfter(a, '-pidfile')).toEqual(['/h/dev/qemu.pid']);
    expect(valueAfter(a, '-device')).toContain('virtserialport,chardev=events,name=io.berth.events');
    expect(valueAfter(a, '-fw_cfg')).toEqual([
      'name=opt/berth/authorized_keys,file=/h/dev/fw_cfg/authorized_keys',
    ]);
  });

  it('uses the virt machine and ttyAMA0 for aarch64', () => {
    const a = buildQemuArgs(spec({ arch: 'aarch64' }));
    expect(valueAfter(a, '-machine')).toEqual(['virt']);
    expect(valueAfter(a, '-cpu')).toEqual(['cortex-a57']);
    expect(valueAfter(a, '-append')[0]).toMatch(/^console=ttyAMA0/);
  });

  it('exports shared folders over virtio-9p, read-only when asked, with commas escaped', () => {
    const a = buildQemuArgs(
      spec({
        shares: [
          { tag: 'berth0', hostPath: '/home/u', writable: true },
          { tag: 'berth1', hostPath: '/data/a,b', writable: false },
        ],
      }),
    );
    expect(valueAfter(a, '-fsdev')).toEqual([
      'local,id=fs0,path=/home/u,security_model=none,multidevs=remap',
      'local,id=fs1,path=/data/a,,b,security_model=none,multidevs=remap,readonly=on',
    ]);
    expect(valueAfter(a, '-device')).toContain('virtio-9p-pci,fsdev=fs1,mount_tag=berth1');
  });

  it("as root, shares keep the guest's owners and modes in xattrs (mapped-xattr), never on the host's inodes", () => {
    const a = buildQemuArgs(
      spec({ asRoot: true, shares: [{ tag: 'berth0', hostPath: '/root', writable: true }] }),
    );
    expect(valueAfter(a, '-fsdev')).toEqual([
      'local,id=fs0,path=/root,security_model=mapped-xattr,multidevs=remap',
    ]);
  });
});
