import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  GUEST_CONF_PATH,
  GUEST_PROTOCOL,
  INITRD_MODULES,
  MAX_PINS,
  renderGuestConf,
} from './guest-config.js';
import { GUEST_DIR, readGuestTree, writeGuestTree } from './guest-tree.js';

const SYS_PL = path.join(GUEST_DIR, 'rootfs/usr/local/lib/berth/sys.pl');
/** The Docker runtime's part of the image (src/runtime/docker/docker-runtime.ts; guest/ may not import it). */
const DOCKER = {
  packages: ['docker.io'],
  overlay: 'docker',
  engineSocket: '/run/docker.sock',
  dataDir: '/var/lib/docker',
};

/** The guest's own parser (sys.pl's parse_conf) run on a text: what the guest reads from it. */
function perlParseConf(text: string): Record<string, string> {
  const out = execFileSync(
    'perl',
    [
      '-e',
      'require $ARGV[0]; local $/; my $c = parse_conf(<STDIN>); print map { "$_\\t$c->{$_}\\n" } sort keys %$c;',
      SYS_PL,
    ],
    { input: text, encoding: 'utf8' },
  );
  return Object.fromEntries(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t') as [string, string]),
  );
}

describe('the guest tree', () => {
  const tree = readGuestTree(DOCKER);
  const byPath = new Map(tree.map((f) => [f.path, f]));

  it('holds the image parts with their modes, and the generated guest.conf', () => {
    for (const p of ['berth-init', 'berth-guestd', 'berth-setup', 'berth-syncd'])
      expect(byPath.get(`rootfs/usr/local/sbin/${p}`)?.mode, p).toBe(0o755);
    expect(byPath.get('rootfs/usr/local/lib/berth/sys.pl')?.mode).toBe(0o644);
    expect(byPath.get('initrd/init')?.mode).toBe(0o755);
    expect(byPath.get('build/customize.sh')).toBeDefined();
    // The runtime's overlay, merged at its target paths.
    expect(byPath.get('rootfs/usr/local/lib/berth/engine.pl')?.mode).toBe(0o644);
    expect(byPath.get('rootfs/etc/docker/daemon.json')).toBeDefined();
    expect(tree.filter((f) => f.path.startsWith('runtimes/'))).toEqual([]);
    expect(byPath.get(`rootfs/${GUEST_CONF_PATH}`)?.data.toString()).toBe(renderGuestConf(DOCKER));
    // Tests and docs do not make a new image.
    expect(tree.filter((f) => f.path.startsWith('t/') || f.path === 'PROTOCOL.md')).toEqual([]);
    expect(tree.map((f) => f.path)).toEqual([...tree.map((f) => f.path)].sort());
  });

  it('renders guest.conf so that the guest reads the host constants back', () => {
    const conf = perlParseConf(renderGuestConf(DOCKER));
    expect(conf).toMatchObject({
      protocol: String(GUEST_PROTOCOL),
      max_pins: String(MAX_PINS),
      fw_modules: INITRD_MODULES.shares.join(' '),
      engine_socket: '/run/docker.sock',
    });
    expect(conf.initrd_modules!.split(' ')).toEqual([...INITRD_MODULES.boot, ...INITRD_MODULES.shares]);
  });

  it('has a guest.conf key for every one the guest programs ask for', () => {
    const keys = new Set(Object.keys(perlParseConf(renderGuestConf(DOCKER))));
    const asked = new Set<string>();
    for (const f of tree) {
      const text = f.data.toString();
      for (const m of text.matchAll(/\bconf\('(\w+)'\)/g)) asked.add(m[1]!); // Perl
      for (const m of text.matchAll(/s\/\^(\w+)=\/\/p' "\$R\/usr\/local\/lib\/berth\/guest\.conf"/g))
        asked.add(m[1]!); // sh
    }
    expect([...asked].sort()).toEqual(
      expect.arrayContaining([
        'channel',
        'engine_socket',
        'fw_modules',
        'initrd_modules',
        'max_pins',
        'protocol',
      ]),
    );
    for (const k of asked) expect(keys.has(k), `guest.conf has ${k}`).toBe(true);
  });

  it('writes files with their modes whatever the umask, folders 0755', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-tree-'));
    const old = process.umask(0o077);
    try {
      await writeGuestTree(tree, dir);
    } finally {
      process.umask(old);
    }
    const mode = (p: string) => fs.statSync(path.join(dir, p)).mode & 0o777;
    expect(mode('rootfs/usr/local/sbin/berth-init')).toBe(0o755);
    expect(mode('rootfs/etc/fstab')).toBe(0o644);
    expect(mode('rootfs/usr/local/lib/berth')).toBe(0o755);
    expect(fs.readFileSync(path.join(dir, 'rootfs', GUEST_CONF_PATH), 'utf8')).toBe(renderGuestConf(DOCKER));
    await fsp.rm(dir, { recursive: true });
  });
});
