/**
 * The engine once a VM is up and idle, measured the same way for berth and the baseline: memory, Docker API
 * round trips over the host socket, and `docker run --rm`.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { rssKiB } from '../../test/support/proc.js';
import { dockerAt, timed, type Bench } from '../context.js';
import type { IdleFigures, PingFigures } from '../result.js';
import { median, percentile } from '../stats.js';

/** n sequential keep-alive GET /_ping over one connection; per-request percentiles and the total, ms. */
export async function pingLatencies(socketPath: string, n: number): Promise<PingFigures> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ socketPath, path: '/_ping', agent }, (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
        );
      });
      req.on('error', reject);
    });
    lat.push(performance.now() - t);
  }
  const totalMs = performance.now() - t0;
  agent.destroy();
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), totalMs };
}

/** Median ms of `docker run --rm bb:bench true` through the socket. */
async function dockerRunLatency(b: Bench, socket: string): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < b.n.dockerRuns; i++) {
    xs.push(await timed(() => dockerAt(b, socket, ['run', '--rm', 'bb:bench', 'true'])));
  }
  return median(xs);
}

/**
 * After 5 s for the guest to settle: the RSS of QEMU (and of berth's host agent), then the ping latencies
 * and `docker run --rm` (the bb:bench image must be built).
 */
export async function idleFigures(
  b: Bench,
  socket: string,
  pids: { qemu: number | undefined; agent?: number | undefined },
): Promise<IdleFigures> {
  await sleep(5000);
  const rss = rssKiB(pids.qemu);
  const agentRss = rssKiB(pids.agent);
  const ping = await pingLatencies(socket, b.n.pings);
  const run = await dockerRunLatency(b, socket);
  return { rss, agentRss, ping, run };
}
