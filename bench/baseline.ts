import { spawn, type ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { freePort } from '../test/support/net.js';
import { waitFor } from '../test/support/wait.js';

/**
 * The hand-assembled setup most peers use, reproduced for comparison: the plain Debian image (see
 * baseline-image.ts) booted the common way (systemd + sshd), readiness found by polling SSH, the engine
 * socket through `ssh -L`.
 */
export interface BaselineVm {
  qemu: ChildProcess;
  sshPort: number;
  socket: string;
  forward?: ChildProcess;
  dir: string;
}

export interface BaselineImage {
  kernel: string;
  initrd: string;
  rootfs: string;
}

export function sshArgs(vm: { sshPort: number; dir: string }): string[] {
  return [
    '-i',
    path.join(vm.dir, 'id'),
    '-p',
    String(vm.sshPort),
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    `UserKnownHostsFile=${path.join(vm.dir, 'known_hosts')}`,
    '-o',
    'LogLevel=ERROR',
    '-o',
    'ConnectTimeout=5',
    '-o',
    'BatchMode=yes',
  ];
}

/** Boots the baseline VM; `hostfwds` are extra static QEMU forwards (host port on 127.0.0.1 → guest port). */
export async function bootBaseline(
  img: BaselineImage,
  dir: string,
  cpus: number,
  memMiB: number,
  hostfwds: Array<[number, number]> = [],
): Promise<BaselineVm> {
  await fsp.rm(dir, { recursive: true, force: true });
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'id')]);
  await execa('qemu-img', [
    'create',
    '-q',
    '-f',
    'qcow2',
    '-F',
    'qcow2',
    '-b',
    img.rootfs,
    path.join(dir, 'disk.qcow2'),
    '20G',
  ]);
  const sshPort = await freePort();
  const qemu = spawn(
    'qemu-system-x86_64',
    [
      '-machine',
      'q35',
      '-accel',
      'tcg,thread=multi',
      '-cpu',
      'max',
      '-smp',
      String(cpus),
      '-m',
      `${memMiB}M`,
      '-nodefaults',
      '-display',
      'none',
      '-vga',
      'none',
      '-kernel',
      img.kernel,
      '-initrd',
      img.initrd,
      '-append',
      'console=ttyS0 root=/dev/vda rw apparmor=0 quiet',
      '-drive',
      `if=virtio,file=${path.join(dir, 'disk.qcow2')},format=qcow2`,
      '-netdev',
      `user,id=n0,hostfwd=tcp:127.0.0.1:${sshPort}-:22${hostfwds.map(([h, g]) => `,hostfwd=tcp:127.0.0.1:${h}-:${g}`).join('')}`,
      '-device',
      'virtio-net-pci,netdev=n0',
      '-serial',
      `file:${path.join(dir, 'serial.log')}`,
      '-fw_cfg',
      `name=opt/bench/authorized_keys,file=${path.join(dir, 'id.pub')}`,
    ],
    { stdio: 'ignore' },
  );
  return { qemu, sshPort, socket: path.join(dir, 'docker.sock'), dir };
}

/** The baseline guest's kernel panicked while booting (seen on its console). */
export class BaselinePanic extends Error {}

/** The kernel's panic line on the baseline's console, if it panicked. */
export async function baselinePanic(vm: Pick<BaselineVm, 'dir'>): Promise<string | undefined> {
  const text = await fsp.readFile(path.join(vm.dir, 'serial.log'), 'utf8').catch(() => '');
  return /Kernel panic - not syncing: ([^\n]{0,120})/.exec(text)?.[1]?.trim();
}

/**
 * Polls like a script would: ssh until it answers (every 500 ms), then ssh -L, then `docker version` until
 * it works (every 300 ms); timeoutMs for the whole.
 */
export async function waitBaselineDocker(vm: BaselineVm, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const succeeds = (file: string, args: string[]) => async () =>
    (await execa(file, args, { reject: false })).exitCode === 0;
  const sshUp = succeeds('ssh', [...sshArgs(vm), 'root@127.0.0.1', 'true']);
  await waitFor(
    async () => {
      // A guest whose kernel panicked never answers: say so at once rather than after the whole timeout.
      const panic = await baselinePanic(vm);
      if (panic) throw new BaselinePanic(panic);
      return sshUp();
    },
    timeoutMs,
    'baseline ssh',
    { intervalMs: 500 },
  );
  await fsp.rm(vm.socket, { force: true });
  vm.forward = spawn(
    'ssh',
    [
      ...sshArgs(vm),
      '-N',
      '-o',
      'ExitOnForwardFailure=yes',
      '-o',
      'StreamLocalBindUnlink=yes',
      '-L',
      `${vm.socket}:/run/docker.sock`,
      'root@127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  await waitFor(
    succeeds('docker', ['-H', `unix://${vm.socket}`, 'version']),
    deadline - Date.now(),
    'the baseline engine through ssh -L',
    { intervalMs: 300 },
  );
}

/** Graceful stop the common way: `ssh poweroff`, then wait for QEMU to exit. Returns ms. */
export async function stopBaseline(vm: BaselineVm): Promise<number> {
  const t = Date.now();
  vm.forward?.kill();
  const exited = new Promise<void>((r) =>
    vm.qemu.exitCode !== null ? r() : vm.qemu.once('exit', () => r()),
  );
  await execa('ssh', [...sshArgs(vm), 'root@127.0.0.1', 'systemctl poweroff'], { reject: false });
  const timeout = setTimeout(() => vm.qemu.kill('SIGKILL'), 60000);
  await exited;
  clearTimeout(timeout);
  return Date.now() - t;
}
