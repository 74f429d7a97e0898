/** What the cluster e2e and its benchmark share: a test service's image, its tasks, a client on its port. */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { docker, dockerOk, type Env } from './env.js';
import { busyboxContext } from './images.js';
import { httpGet } from './net.js';

/** A build context for busybox serving its container's hostname on port 80 (which task answered). */
export async function helloContext(): Promise<string> {
  const ctx = await busyboxContext();
  const file = path.join(ctx, 'Dockerfile');
  await fsp.writeFile(
    file,
    (await fsp.readFile(file, 'utf8')).replace(
      'CMD ["sh"]',
      'CMD ["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]',
    ),
  );
  return ctx;
}

/** The nodes (hostnames) the running tasks of a Swarm service are on, through docker context `ctx`. */
export async function runningTasks(e: Env, ctx: string, service: string): Promise<string[]> {
  const r = await docker(e, [
    '--context',
    ctx,
    'service',
    'ps',
    service,
    '--filter',
    'desired-state=running',
    '--format',
    '{{.Node}} {{.CurrentState}}',
  ]);
  return r.stdout
    .split('\n')
    .filter((l) => /\sRunning/.test(l))
    .map((l) => l.split(' ')[0]!)
    .sort();
}

export interface ProbeResult {
  ok: number;
  failed: number;
  /** Seconds from the start of the probe to its last failed GET (0: none failed). */
  lastFailureS: number;
}

/** A client GETting 127.0.0.1:port every 100 ms until stopped (each GET waits up to 5 s). */
export function probePort(port: number): { stop: () => Promise<ProbeResult> } {
  const r: ProbeResult = { ok: 0, failed: 0, lastFailureS: 0 };
  const t0 = Date.now();
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = Date.now();
      if ((await httpGet(port)) !== undefined) r.ok++;
      else {
        r.failed++;
        r.lastFailureS = (Date.now() - t0) / 1000;
      }
      await new Promise((res) => setTimeout(res, Math.max(0, 100 - (Date.now() - t))));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return r;
    },
  };
}

/** `docker service create` of the hello image: `hello`, three replicas, port 80 published on `port`. */
export async function createHelloService(e: Env, ctx: string, image: string, port: number): Promise<void> {
  await dockerOk(e, [
    '--context',
    ctx,
    'service',
    'create',
    '-q',
    '--name',
    'hello',
    '--replicas',
    '3',
    '--publish',
    `${port}:80`,
    image,
  ]);
}
