import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadInstanceConfig } from '../config/load.js';
import type { GuestNetwork } from '../driver/driver.js';
import { buildQemuArgs } from '../driver/qemu/args.js';
import { USER_NET } from '../driver/qemu/user-net.js';
import type { GuestImage } from '../image/image.js';
import { vmSpecFor } from '../instance/vm-spec.js';
import { instanceFile } from '../store/paths.js';
import { writeGuestFiles } from './guest-files.js';

const NAME = 'xarch';
const network: GuestNetwork = USER_NET;
const image = {
  id: 'img',
  dir: '/c/img',
  kernel: '/c/img/vmlinuz',
  initrd: '/c/img/initrd.img',
  rootfs: '/c/img/rootfs.qcow2',
  manifest: { format: 1, arch: 'x86_64', source: 'built:x', kernelVersion: '6.1', createdAt: '' },
} as GuestImage;

/**
 * Writes the instance's berth.yaml, then what a boot does with it (the launcher's writeGuestFiles), and returns
 * the text the guest reads as its fw_cfg entry `name`: the file is found the way it reaches the guest, through
 * QEMU's arguments for that spec (`-fw_cfg name=<prefix>/<name>,file=…`, the prefix named on the kernel command
 * line as berth.fwcfg=, which is where the guest's sys.pl fw_cfg() looks).
 */
async function bootWith(yaml: string, entry: string): Promise<string> {
  const file = instanceFile(NAME, 'config');
  await fsp.writeFile(file, yaml);
  const cfg = await loadInstanceConfig(file);
  await writeGuestFiles(NAME, cfg, [], network);
  const args = buildQemuArgs(vmSpecFor(NAME, cfg, image, 'tcg', 2222, []));
  const cmdline = args[args.indexOf('-append') + 1]!;
  const prefix = /(?:^|\s)berth\.fwcfg=(\S+)/.exec(cmdline)?.[1];
  expect(prefix).toBeDefined();
  const fwCfg = args.flatMap((a, i) => (a === '-fw_cfg' ? [args[i + 1]!] : []));
  const named = fwCfg.filter((a) => a.startsWith(`name=${prefix}/${entry},file=`));
  expect(named).toHaveLength(1);
  const written = named[0]!.slice(`name=${prefix}/${entry},file=`.length);
  expect(fs.statSync(written).mode & 0o777).toBe(0o600);
  return fsp.readFile(written, 'utf8');
}

describe('writeGuestFiles: the binfmt list of berth.yaml reaches the fw_cfg entry the guest reads', () => {
  let home: string;
  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-guest-files-'));
    process.env.BERTH_HOME = home;
    fs.mkdirSync(path.join(home, NAME), { mode: 0o700 });
  });
  afterEach(() => {
    delete process.env.BERTH_HOME;
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('binfmt true (the default), then false, then [aarch64]: each boot rewrites the entry from the YAML', async () => {
    // An x86_64 instance whatever the host: the list leaves out the instance's own architecture.
    expect(await bootWith('arch: x86_64\n', 'binfmt')).toBe('aarch64 arm riscv64 ppc64le s390x');
    expect(await bootWith('arch: x86_64\nbinfmt: true\n', 'binfmt')).toBe(
      'aarch64 arm riscv64 ppc64le s390x',
    );
    // Off: the entry is there and empty (berth-setup registers nothing), not left over from the last boot.
    expect(await bootWith('arch: x86_64\nbinfmt: false\n', 'binfmt')).toBe('');
    expect(await bootWith('arch: x86_64\nbinfmt: [aarch64]\n', 'binfmt')).toBe('aarch64');
    expect(await bootWith('arch: x86_64\nbinfmt: [aarch64, x86_64, riscv64]\n', 'binfmt')).toBe(
      'aarch64 riscv64',
    );
  });

  it('an aarch64 instance gets x86_64 among its foreign architectures', async () => {
    expect(await bootWith('arch: aarch64\n', 'binfmt')).toBe('arm riscv64 ppc64le s390x x86_64');
  });
});
