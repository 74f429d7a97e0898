/** Host-side network probes for tests and the benchmark, all on the host's 127.0.0.1. */
import dgram from 'node:dgram';
import net from 'node:net';
import { hostEphemeralRange, inRange } from '../../src/forward/host-ports.js';

/**
 * A TCP port on 127.0.0.1 that nothing listens on at the moment, outside the host's ephemeral range (berth
 * forwards no guest port there without a rule: see src/forward/host-ports.ts), so a test can publish it.
 */
export async function freePort(): Promise<number> {
  const eph = hostEphemeralRange();
  for (;;) {
    const p = 20000 + Math.floor(Math.random() * 12000);
    if (inRange(p, eph)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return p;
  }
}

/** Resolves true once a TCP connect to 127.0.0.1:port succeeds, false once it is refused (or after 2 s). */
export function tcpOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({ host, port });
    s.setTimeout(2000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

/** One HTTP GET on 127.0.0.1; the body, or undefined when nothing answers. */
export async function httpGet(port: number, urlPath = '/'): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${urlPath}`, { signal: AbortSignal.timeout(5000) });
    return await res.text();
  } catch {
    return undefined;
  }
}

/** One UDP datagram to 127.0.0.1:port; the answer, or undefined after timeoutMs. */
export function udpEcho(port: number, msg: string, timeoutMs = 3000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m.toString());
    });
    s.send(msg, port, '127.0.0.1');
  });
}
