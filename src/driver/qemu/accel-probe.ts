import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import { spawn } from 'node:child_process';
import type { Accel, Arch } from '../../config/schema.js';
import { BerthError } from '../../util/errors.js';
import { QEMU_BINARY } from './args.js';

export type ConcreteAccel = Exclude<Accel, 'auto'>;

export interface AccelFacts {
  platform: NodeJS.Platform;
  hostArch: Arch;
  guestArch: Arch;
  /** /dev/kvm exists and opens read-write (Linux). */
  kvmDevice: boolean;
  /** /dev/kvm exists but this user may not open it: the group that may (and the user, for the fix). */
  kvmDenied?: { group: string; user: string };
  /** Result of booting the guest kernel under the hardware accelerator with a deadline; undefined = not run. */
  probe?: { ok: boolean; detail: string };
}

export interface AccelDecision {
  accel: ConcreteAccel;
  notice?: string;
}

/** The hardware accelerator this platform could use, if any. */
export function hardwareAccelFor(platform: NodeJS.Platform): ConcreteAccel | undefined {
  if (platform === 'linux') return 'kvm';
  if (platform === 'darwin') return 'hvf';
  return undefined;
}

/** Whether auto-selection needs a probe before it can decide. */
export function needsProbe(requested: Accel, f: Omit<AccelFacts, 'probe'>): boolean {
  return (
    requested === 'auto' &&
    f.hostArch === f.guestArch &&
    hardwareAccelFor(f.platform) !== undefined &&
    (f.platform !== 'linux' || f.kvmDevice)
  );
}

/** Pure decision: requested accelerator + facts → accelerator to use (or a clear error). */
export function decideAccel(requested: Accel, f: AccelFacts): AccelDecision {
  const hw = hardwareAccelFor(f.platform);
  if (requested === 'tcg') return { accel: 'tcg' };
  if (requested === 'kvm' || requested === 'hvf') {
    if (hw !== requested) {
      throw new BerthError('USAGE', `--accel ${requested} is not available on ${f.platform}`, {
        hint: `use --accel ${hw ?? 'tcg'} or auto`,
      });
    }
    if (f.hostArch !== f.guestArch) {
      throw new BerthError(
        'USAGE',
        `--accel ${requested} cannot run a ${f.guestArch} guest on a ${f.hostArch} host`,
        {
          hint: 'foreign-arch guests run under full emulation: use --accel tcg or auto',
        },
      );
    }
    if (requested === 'kvm' && !f.kvmDevice && f.kvmDenied) {
      throw new BerthError('PERMISSION', `/dev/kvm exists but ${f.kvmDenied.user} may not open it`, {
        hint: joinKvmGroup(f.kvmDenied) + ' (or use --accel tcg)',
      });
    }
    if (requested === 'kvm' && !f.kvmDevice) {
      throw new BerthError('PERMISSION', '/dev/kvm is missing or not writable by this user', {
        hint: 'add yourself to the "kvm" group, or use --accel tcg',
      });
    }
    return { accel: requested };
  }
  // auto
  if (f.hostArch !== f.guestArch) {
    return {
      accel: 'tcg',
      notice:
        `${f.guestArch} VM on a ${f.hostArch} host: every instruction is emulated (TCG), so expect it to be several ` +
        'times slower than a native instance. For foreign-arch containers a native instance with binfmt (the default) is ' +
        'faster; a full foreign VM is the reliable choice when user-space emulation breaks (e.g. programs that need inotify under qemu-user)',
    };
  }
  if (!hw)
    return {
      accel: 'tcg',
      notice: `no hardware accelerator on ${f.platform}: using TCG (software emulation)`,
    };
  if (hw === 'kvm' && !f.kvmDevice && f.kvmDenied) {
    return {
      accel: 'tcg',
      notice: `/dev/kvm exists but ${f.kvmDenied.user} may not open it: using TCG (software emulation, slower). To use KVM, ${joinKvmGroup(f.kvmDenied)}`,
    };
  }
  if (hw === 'kvm' && !f.kvmDevice) {
    return {
      accel: 'tcg',
      notice: 'KVM unavailable (/dev/kvm missing or not writable): using TCG (software emulation, slower)',
    };
  }
  if (f.probe && !f.probe.ok) {
    return {
      accel: 'tcg',
      notice: `${hw} did not boot a test kernel (${f.probe.detail}): using TCG (software emulation, slower)`,
    };
  }
  return { accel: hw };
}

/** How to get access to a /dev/kvm this user may not open. */
export function joinKvmGroup(d: { group: string; user: string }): string {
  // A device of group root gives no group to join: Debian's udev rule makes it kvm, 0660.
  if (d.group === 'root')
    return `ask an admin to give /dev/kvm to the kvm group as Debian's udev rule does (sudo chgrp kvm /dev/kvm && sudo chmod 0660 /dev/kvm), then to add you to it: sudo usermod -aG kvm ${d.user}, and log in again`;
  return `join the "${d.group}" group that owns /dev/kvm: sudo usermod -aG ${d.group} ${d.user}, then log in again`;
}

/**
 * Why /dev/kvm is not usable when it exists: this user lacks the permission, and the group owning the device
 * (usually "kvm") would give it. Undefined when it is usable or missing.
 */
export function kvmDenied(
  dev = '/dev/kvm',
  groupFile = '/etc/group',
  access: (file: string, mode: number) => void = fs.accessSync,
): { group: string; user: string } | undefined {
  let gid: number;
  try {
    gid = fs.statSync(dev).gid;
    access(dev, fs.constants.R_OK | fs.constants.W_OK);
    return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') return undefined;
  }
  let group = 'kvm';
  try {
    const line = fs
      .readFileSync(groupFile, 'utf8')
      .split('\n')
      .find((l) => l.split(':')[2] === String(gid));
    if (line) group = line.split(':')[0]!;
  } catch {
    // no group file: the usual name
  }
  return { group, user: os.userInfo().username };
}

export function kvmDeviceUsable(): boolean {
  try {
    fs.accessSync('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Boots the guest kernel under the hardware accelerator and waits for it to print its banner.
 * A KVM that opens but cannot run a standard kernel (seen on paravirtual-only hosts) hangs after the
 * BIOS: the deadline turns that into a clear "no" within a few seconds.
 */
export async function probeHardwareAccel(
  arch: Arch,
  accel: ConcreteAccel,
  kernel: string,
  deadlineMs = 5000,
): Promise<{ ok: boolean; detail: string }> {
  const args = [
    '-accel',
    accel,
    '-cpu',
    'host',
    '-m',
    '256M',
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-serial',
    'stdio',
    '-kernel',
    kernel,
    '-append',
    `${arch === 'x86_64' ? 'console=ttyS0' : 'console=ttyAMA0'} panic=-1 earlyprintk=serial`,
  ];
  if (arch === 'aarch64') args.unshift('-machine', 'virt');
  return new Promise((resolve) => {
    const child = spawn(QEMU_BINARY[arch], args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let settled = false;
    const finish = (r: { ok: boolean; detail: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(r);
    };
    const timer = setTimeout(
      () => finish({ ok: false, detail: `guest kernel printed nothing within ${deadlineMs / 1000} s` }),
      deadlineMs,
    );
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (/Linux version/.test(out)) finish({ ok: true, detail: 'guest kernel booted' });
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => finish({ ok: false, detail: e.message }));
    child.on('exit', (code, signal) => {
      const last = err.trim().split('\n').pop() ?? '';
      finish({
        ok: false,
        detail: `qemu ${signal ? `crashed (${signal})` : `exited with code ${code}`}${last ? `: ${last}` : ''}`,
      });
    });
  });
}

/** Probe results are cached per QEMU binary and kernel, so only the first start pays for the probe. */
export async function cachedProbe(
  cacheFile: string,
  key: string,
  probe: () => Promise<{ ok: boolean; detail: string }>,
): Promise<{ ok: boolean; detail: string }> {
  let cache: Record<string, { ok: boolean; detail: string }> = {};
  try {
    cache = JSON.parse(await fsp.readFile(cacheFile, 'utf8')) as typeof cache;
  } catch {
    // no cache yet (or unreadable): probe afresh
  }
  const hit = cache[key];
  if (hit) return hit;
  const res = await probe();
  cache[key] = res;
  await fsp.writeFile(cacheFile, JSON.stringify(cache, null, 2), { mode: 0o600 });
  return res;
}
