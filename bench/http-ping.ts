import http from 'node:http';
import { percentile } from './stats.js';

/** n sequential keep-alive GET /_ping over one connection; returns per-request latencies in ms. */
export async function pingLatencies(
  socketPath: string,
  n: number,
): Promise<{ p50: number; p99: number; totalMs: number }> {
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
