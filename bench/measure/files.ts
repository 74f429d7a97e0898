/**
 * Shared folders: one workload (big sequential write + read, then many small files) run inside the guest on
 * its own disk and on host folders shared with each 9p cache mode.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { guestSh, SHARE_MODES, type Bench } from '../context.js';
import type { FileFigures } from '../result.js';

/** The guest's own disk, for the workload's reference figures. */
export const GUEST_DISK_DIR = '/var/tmp/berth-bench';

/**
 * Runs in the guest: `mib` MiB sequential write (+fsync) and read (caches dropped first), then create + stat
 * + read + delete of `files` small files. Prints "write_ms read_ms small_ms" (timed inside the guest).
 */
export function fileWorkloadScript(dir: string, mib: number, files: number): string {
  return `perl -MIO::Handle -e '
my ($d, $mib, $n) = @ARGV;
sub now { open(my $f, "<", "/proc/uptime"); my $u = <$f>; return (split " ", $u)[0] * 1000 }
system("mkdir", "-p", "$d/small") == 0 or die;
my $buf = "\\0" x (1 << 20);
my $t = now(); open(my $o, ">", "$d/seq.bin") or die; syswrite($o, $buf) for 1 .. $mib; $o->sync; close $o; my $w = now() - $t;
system("sh", "-c", "echo 3 > /proc/sys/vm/drop_caches");
$t = now(); open(my $i, "<", "$d/seq.bin") or die; my $x; 1 while sysread($i, $x, 1 << 20); close $i; my $r = now() - $t;
unlink "$d/seq.bin";
my $body = "x" x 100;
$t = now();
for my $k (1 .. $n) { open(my $f, ">", "$d/small/f$k") or die; print $f $body; close $f }
for my $k (1 .. $n) { my @s = stat("$d/small/f$k") or die }
for my $k (1 .. $n) { open(my $f, "<", "$d/small/f$k") or die; local $/; my $c = <$f>; close $f }
for my $k (1 .. $n) { unlink "$d/small/f$k" or die }
my $s = now() - $t;
rmdir "$d/small";
print "$w $r $s\\n";
' '${dir}' ${mib} ${files}`;
}

export function parseFileWorkload(out: string): FileFigures {
  const [w, r, s] = out.trim().split(/\s+/).map(Number);
  if (![w, r, s].every((v) => Number.isFinite(v))) throw new Error(`file workload printed "${out.trim()}"`);
  return { writeMs: w!, readMs: r!, smallMs: s! };
}

/** The workload in dir, in the guest of instance `name`. */
export async function fileFigures(b: Bench, dir: string, name?: string): Promise<FileFigures> {
  return parseFileWorkload(await guestSh(b, fileWorkloadScript(dir, b.n.fileMiB, b.n.smallFiles), name));
}

const shareDir = (b: Bench, mode: string) => path.join(b.e.root, `share-${mode}`);

/**
 * The default instance's mounts: the home share every instance has, plus one host folder per 9p cache mode
 * (created here). berth.yaml lines.
 */
export async function shareMounts(b: Bench): Promise<string[]> {
  const yaml = ['mounts:', '  - location: "~"'];
  for (const m of SHARE_MODES) {
    await fsp.mkdir(shareDir(b, m), { recursive: true });
    yaml.push(`  - location: ${shareDir(b, m)}`, `    cache: ${m}`);
  }
  return yaml;
}

/**
 * The 9p security_model on QEMU's command line: mapped-xattr when berth runs as root, none as a user (the
 * shared-folder figures depend on it); undefined when QEMU is gone or has no 9p share.
 */
export async function qemuShareModel(pid: number | undefined): Promise<string | undefined> {
  if (pid === undefined) return undefined;
  const cmd = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return /security_model=([a-z-]+)/.exec(cmd)?.[1];
}

/** The workload on the default instance's disk (`disk`) and on each 9p share (keyed by cache mode). */
export async function berthFiles(b: Bench): Promise<Record<string, FileFigures>> {
  const files: Record<string, FileFigures> = {};
  files.disk = await fileFigures(b, GUEST_DISK_DIR);
  for (const m of SHARE_MODES) files[m] = await fileFigures(b, shareDir(b, m));
  return files;
}
