/**
 * Port-forwarding and shared-folder workloads for the benchmark harness (run.ts calls them for berth and for
 * the baseline VM in the same run). Guest programs are Perl (perl-base is in both images): the same code runs
 * behind every data path, so only the path differs.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { percentile } from './stats.js';

/** Guest TCP servers: 7001 counts what it receives, 7002 sends $bytes, 7003 answers each request line. */
export const GUEST_PORTS = { sink: 7001, source: 7002, echo: 7003 } as const;

export function guestServersScript(bytes: number): string {
  const server = (port: number, body: string) =>
    `setsid perl -MIO::Socket::INET -e '$SIG{PIPE} = "IGNORE"; my $s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => ${port}, Listen => 128, ReuseAddr => 1) or die; while (my $c = $s->accept) { ${body} close $c }' >/dev/null 2>&1 </dev/null &`;
  // Returns once all three listen: they start in parallel, and a port the guest does not listen on yet is
  // reset by QEMU's user network after it accepted on the host side (a CI run failed on that once).
  const ports = Object.values(GUEST_PORTS).join(' ');
  return [
    server(
      GUEST_PORTS.sink,
      'my ($n, $b) = (0); while (my $r = sysread($c, $b, 1 << 20)) { $n += $r } syswrite($c, "$n\\n");',
    ),
    server(
      GUEST_PORTS.source,
      `my $k = "x" x (1 << 20); my $left = ${bytes}; while ($left > 0) { my $w = syswrite($c, $k, $left < 1048576 ? $left : 1048576); last unless $w; $left -= $w }`,
    ),
    server(GUEST_PORTS.echo, 'my $l = <$c>; syswrite($c, "ok\\n");'),
    `for p in ${ports}; do i=0; until ss -Hltn "sport = :$p" | grep -q .; do i=$((i + 1)); [ $i -gt 600 ] && exit 1; sleep 0.1; done; done`,
  ].join('\n');
}

/** host → guest: writes `bytes` and waits for the guest's count. ms. */
export function sendThroughput(port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(1 << 20, 120);
    const t = performance.now();
    const s = net.createConnection({ host: '127.0.0.1', port });
    let left = bytes;
    let reply = '';
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void s.once('drain', pump);
      }
      s.end();
    };
    s.on('connect', pump);
    s.setEncoding('utf8');
    s.on('data', (d: string) => (reply += d));
    s.on('close', () =>
      Number(reply.trim()) === bytes
        ? resolve(performance.now() - t)
        : reject(new Error(`guest counted ${reply.trim()} of ${bytes} bytes`)),
    );
    s.on('error', reject);
  });
}

/** guest → host: reads until the guest closes. ms. */
export function receiveThroughput(port: number, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const s = net.createConnection({ host: '127.0.0.1', port });
    let got = 0;
    s.on('data', (d: Buffer) => (got += d.length));
    s.on('close', () =>
      got === bytes ? resolve(performance.now() - t) : reject(new Error(`received ${got} of ${bytes} bytes`)),
    );
    s.on('error', reject);
  });
}

function oneRequest(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const s = net.createConnection({ host: '127.0.0.1', port });
    let got = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write('GET\n'));
    s.on('data', (d: string) => (got += d));
    s.on('close', () =>
      got === 'ok\n' ? resolve(performance.now() - t) : reject(new Error(`short connection got "${got}"`)),
    );
    s.on('error', reject);
  });
}

/** n sequential connect + request + answer + close. */
export async function shortConnections(port: number, n: number): Promise<{ p50: number; p99: number }> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(await oneRequest(port));
  return { p50: percentile(xs, 50), p99: percentile(xs, 99) };
}

/**
 * Waits until a request on the echo port is answered. A bare connect is not enough: QEMU's hostfwd accepts on
 * the host before it knows whether the guest listens (and resets the connection if not).
 */
export async function waitEcho(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await oneRequest(port);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function waitPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createConnection({ host: '127.0.0.1', port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} never accepted`);
}

/**
 * From a listener starting in the guest (its "listening" line arriving on the host over ssh, a few ms after
 * listen()) until the host port accepts a connection; polled every 10 ms. One sample per call. ms.
 */
export function listenToAccept(
  sshCommand: string[],
  port: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const perl = `use IO::Socket::INET; $| = 1; my $s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => ${port}, Listen => 5, ReuseAddr => 1) or die; print "L\\n"; my $c = $s->accept; close $c`;
    const p = spawn(sshCommand[0]!, [...sshCommand.slice(1), 'perl', '-e', perl], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env,
    });
    let started = false;
    p.stdout.on('data', async (d: Buffer) => {
      if (started || !d.toString().includes('L')) return;
      started = true;
      const t0 = performance.now();
      const deadline = Date.now() + 10000;
      for (;;) {
        const ok = await new Promise<boolean>((res) => {
          const s = net.createConnection({ host: '127.0.0.1', port });
          s.once('connect', () => (s.destroy(), res(true)));
          s.once('error', () => res(false));
        });
        if (ok) return resolve(performance.now() - t0);
        if (Date.now() > deadline) return reject(new Error(`port ${port} was not forwarded within 10 s`));
        await new Promise((r) => setTimeout(r, 10));
      }
    });
    p.on('exit', (code) => {
      if (!started) reject(new Error(`listener exited (${code}) before listening`));
    });
  });
}

/**
 * Runs in the guest: 256 MiB sequential write (+fsync) and read (caches dropped first), then create + stat +
 * read + delete of N small files. Prints "write_ms read_ms small_ms" (timed inside the guest).
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

export function parseFileWorkload(out: string): { writeMs: number; readMs: number; smallMs: number } {
  const [w, r, s] = out.trim().split(/\s+/).map(Number);
  if (![w, r, s].every((v) => Number.isFinite(v))) throw new Error(`file workload printed "${out.trim()}"`);
  return { writeMs: w!, readMs: r!, smallMs: s! };
}
