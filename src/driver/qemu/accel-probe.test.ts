import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decideAccel, kvmDenied, needsProbe, type AccelFacts } from './accel-probe.js';

const linux: AccelFacts = { platform: 'linux', hostArch: 'x86_64', guestArch: 'x86_64', kvmDevice: true };

describe('accelerator decision', () => {
  it('auto picks KVM when the probe boots a kernel', () => {
    expect(decideAccel('auto', { ...linux, probe: { ok: true, detail: '' } })).toEqual({ accel: 'kvm' });
  });

  it('auto falls back to TCG with a notice when /dev/kvm exists but hangs the kernel', () => {
    const d = decideAccel('auto', {
      ...linux,
      probe: { ok: false, detail: 'guest kernel printed nothing within 5 s' },
    });
    expect(d.accel).toBe('tcg');
    expect(d.notice).toMatch(/kvm did not boot a test kernel \(guest kernel printed nothing/);
  });

  it('auto falls back to TCG without /dev/kvm, and needs no probe then', () => {
    expect(needsProbe('auto', { ...linux, kvmDevice: false })).toBe(false);
    expect(decideAccel('auto', { ...linux, kvmDevice: false }).accel).toBe('tcg');
  });

  it('probes only for auto with a same-arch guest on a platform with an accelerator', () => {
    expect(needsProbe('auto', linux)).toBe(true);
    expect(needsProbe('tcg', linux)).toBe(false);
    expect(needsProbe('auto', { ...linux, guestArch: 'aarch64' })).toBe(false);
    expect(needsProbe('auto', { ...linux, platform: 'darwin' })).toBe(true);
    expect(needsProbe('auto', { ...linux, platform: 'win32' })).toBe(false);
  });

  it('auto uses HVF on macOS when it works', () => {
    expect(
      decideAccel('auto', { ...linux, platform: 'darwin', kvmDevice: false, probe: { ok: true, detail: '' } })
        .accel,
    ).toBe('hvf');
  });

  it('foreign-arch guests are emulated', () => {
    const d = decideAccel('auto', { ...linux, guestArch: 'aarch64' });
    expect(d).toEqual({ accel: 'tcg', notice: expect.stringMatching(/every instruction is emulated/) });
    expect(() => decideAccel('kvm', { ...linux, guestArch: 'aarch64' })).toThrow(
      /cannot run a aarch64 guest/,
    );
  });

  it('explicit choices are honoured or refused clearly', () => {
    expect(decideAccel('tcg', linux)).toEqual({ accel: 'tcg' });
    expect(decideAccel('kvm', linux)).toEqual({ accel: 'kvm' });
    expect(() => decideAccel('hvf', linux)).toThrow(/--accel hvf is not available on linux/);
    expect(() => decideAccel('kvm', { ...linux, kvmDevice: false })).toThrow(
      /\/dev\/kvm is missing or not writable/,
    );
  });

  it('a /dev/kvm the user may not open names the group to join, not "KVM does not work"', () => {
    const denied = { ...linux, kvmDevice: false, kvmDenied: { group: 'kvm', user: 'ann' } };
    const d = decideAccel('auto', denied);
    expect(d.accel).toBe('tcg');
    expect(d.notice).toMatch(/\/dev\/kvm exists but ann may not open it/);
    expect(d.notice).toMatch(/sudo usermod -aG kvm ann/);
    expect(() => decideAccel('kvm', denied)).toThrow(/\/dev\/kvm exists but ann may not open it/);
    // A device of group root: no group to join until it is given to kvm.
    const rootOnly = decideAccel('auto', { ...denied, kvmDenied: { group: 'root', user: 'ann' } }).notice;
    expect(rootOnly).toMatch(/sudo chgrp kvm \/dev\/kvm/);
    expect(rootOnly).not.toMatch(/usermod -aG root/);
    expect(decideAccel('auto', { ...linux, probe: { ok: false, detail: 'x' } }).notice).toMatch(
      /did not boot a test kernel \(x\)/,
    );
  });

  it('kvmDenied reads the owning group from the group file, and says nothing for a usable or missing device', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-kvm-'));
    try {
      const dev = path.join(dir, 'kvm');
      fs.writeFileSync(dev, '');
      fs.writeFileSync(
        path.join(dir, 'group'),
        `other:x:${fs.statSync(dev).gid + 1}:\nkvm-users:x:${fs.statSync(dev).gid}:\n`,
      );
      expect(kvmDenied(dev, path.join(dir, 'group'))).toBeUndefined();
      expect(kvmDenied(path.join(dir, 'missing'), path.join(dir, 'group'))).toBeUndefined();
      const eacces = () => {
        throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
      };
      expect(kvmDenied(dev, path.join(dir, 'group'), eacces)).toMatchObject({ group: 'kvm-users' });
      expect(kvmDenied(dev, path.join(dir, 'none'), eacces)).toMatchObject({ group: 'kvm' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
