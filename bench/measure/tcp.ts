/**
 * The TCP workloads behind every port-forwarding figure: Perl servers in the guest (perl-base is in both
 * images, so the same code runs behind every data path and only the path differs) and their host-side
 * clients, all on the host's 127.0.0.1.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { tcpOpen } from '../../test/support/net.js';
import { waitFor } from '../../test/support/wait.js';
import { percentile } from '../stats.js';

/** Guest TCP servers: 7001 counts what it receives, 7002 sends $bytes, 7003 answers each request line. */
export const GUEST_PORTS = { sink: 7001, source: 7002, echo: 7003 } as const;
export type ServerPorts = { sink: number; source: number; echo: number };

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
 * Waits until a request on the echo port is answered (tried every 100 ms). A bare connect is not enough:
 * QEMU's hostfwd accepts on the host before it knows whether the guest listens (and resets the connection
 * if not).
 */
export async function waitEcho(port: number, timeoutMs: number): Promise<void> {
  await waitFor(
    () =>
      oneRequest(port).then(
        () => true,
        () => false,
      ),
    timeoutMs,
    `an answer on port ${port}`,
    { intervalMs: 100 },
  );
}

/** Waits until a connect to the host port succeeds (tried every 50 ms). */
export async function waitPort(port: number, timeoutMs: number): Promise<void> {
  await waitFor(() => tcpOpen(port), timeoutMs, `port ${port} to accept`, { intervalMs: 50 });
}

/**
 * From a listener starting in the guest (its "listening" line arriving on the host over ssh, a few ms after
 * listen()) until the host port accepts a connection; polled every 10 ms, for up to 10 s. One sample per
 * call. ms.
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
    p.stdout.on('data', (d: Buffer) => {
      if (started || !d.toString().includes('L')) return;
      started = true;
      const t0 = performance.now();
      waitFor(() => tcpOpen(port), 10000, `port ${port} to be forwarded`, { intervalMs: 10 }).then(
        () => resolve(performance.now() - t0),
        reject,
      );
    });
    p.on('exit', (code) => {
      if (!started) reject(new Error(`listener exited (${code}) before listening`));
    });
  });
}
