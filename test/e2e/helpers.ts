import { execa, type Options } from 'execa';
import dgram from 'node:dgram';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BERTH_BIN = path.join(REPO, 'bin', 'berth');

export interface Env {
  /** Temporary BERTH_HOME, DOCKER_CONFIG (so tests never touch the user's docker contexts). */
  home: string;
  dockerConfig: string;
  env: NodeJS.ProcessEnv;
}

export async function makeEnv(prefix: string): Promise<Env> {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), `berth-${prefix}-`));
  const home = path.join(root, 'home');
  const dockerConfig = path.join(root, 'docker');
  await fsp.mkdir(dockerConfig, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, BERTH_HOME: home, DOCKER_CONFIG: dockerConfig };
  delete env.DOCKER_HOST;
  delete env.DOCKER_CONTEXT;
  return { home, dockerConfig, env };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function berth(e: Env, args: string[], opts: Options = {}): Promise<RunResult> {
  const r = await execa(process.execPath, [BERTH_BIN, ...args], {
    env: e.env,
    reject: false,
    extendEnv: false,
    ...opts,
  });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

export async function docker(e: Env, args: string[], opts: Options = {}): Promise<RunResult> {
  const r = await execa('docker', args, { env: e.env, reject: false, extendEnv: false, ...opts });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** A build context for a busybox image from local files only (no registry is reachable). */
export async function busyboxContext(): Promise<string> {
  const bb = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
  if (!bb) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  return busyboxContextFrom(bb);
}

/** Processes whose command line contains `needle` (like pgrep -f). */
export async function processesMatching(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const d of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = (await fsp.readFile(`/proc/${d}/cmdline`, 'utf8')).split('\0').join(' ');
      if (cmd.includes(needle)) out.push(Number(d));
    } catch {
      // the process exited while we looked
    }
  }
  return out;
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined | false>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function noStackTrace(stderr: string): boolean {
  return !/\n\s+at .+\(.*:\d+:\d+\)/.test(stderr);
}

/**
 * Debian's static busybox for arm64 (busybox-static:arm64), fetched once with apt (adds the arm64 dpkg
 * architecture: root only) and cached. No registry needed.
 */
export async function arm64Busybox(): Promise<string> {
  const cache = path.join(os.homedir(), '.cache', 'berth', 'fixtures');
  const bin = path.join(cache, 'busybox-arm64');
  if (fs.existsSync(bin)) return bin;
  await fsp.mkdir(cache, { recursive: true });
  const foreign = await execa('dpkg', ['--print-foreign-architectures']);
  if (!String(foreign.stdout).split('\n').includes('arm64')) {
    await execa('dpkg', ['--add-architecture', 'arm64']);
    await execa('apt-get', ['update', '-qq']);
  }
  const dl = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-arm64-'));
  await fsp.chmod(dl, 0o777); // apt's sandbox user writes the download here
  let r = await execa('apt-get', ['download', 'busybox-static:arm64'], { cwd: dl, reject: false });
  if (r.exitCode !== 0) {
    await execa('apt-get', ['update', '-qq']);
    r = await execa('apt-get', ['download', 'busybox-static:arm64'], { cwd: dl });
  }
  const deb = (await fsp.readdir(dl)).find((f) => f.endsWith('.deb'))!;
  const out = await execa('sh', [
    '-c',
    `dpkg-deb --fsys-tarfile '${path.join(dl, deb)}' | tar -xO ./bin/busybox > '${bin}.tmp'`,
  ]);
  if (out.exitCode !== 0) throw new Error('could not extract busybox from busybox-static:arm64');
  await fsp.chmod(`${bin}.tmp`, 0o755);
  await fsp.rename(`${bin}.tmp`, bin);
  return bin;
}

/** A build context: FROM scratch + the given busybox binary, with RUN steps that execute it. */
export async function busyboxContextFrom(busybox: string): Promise<string> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-bbx-'));
  await fsp.copyFile(busybox, path.join(dir, 'busybox'));
  await fsp.chmod(path.join(dir, 'busybox'), 0o755);
  await fsp.writeFile(
    path.join(dir, 'Dockerfile'),
    'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN uname -m > /built-on\nCMD ["sh"]\n',
  );
  await fsp.chmod(dir, 0o755);
  return dir;
}

/**
 * A build context for the ports/shares tests: busybox plus two tiny static helpers compiled from
 * test/e2e/fixtures (busybox has no UDP tool and no inotify watcher). Needs gcc and libc6-dev.
 */
export async function toolsContext(): Promise<string> {
  const dir = await busyboxContext();
  const fixtures = path.join(REPO, 'test', 'e2e', 'fixtures');
  for (const tool of ['udp-echo', 'inotify-watch']) {
    await execa('gcc', ['-static', '-O2', '-o', path.join(dir, tool), path.join(fixtures, `${tool}.c`)]);
  }
  await fsp.writeFile(
    path.join(dir, 'Dockerfile'),
    'FROM scratch\nCOPY busybox /bin/busybox\nCOPY udp-echo inotify-watch /bin/\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nEXPOSE 80\nCMD ["sh"]\n',
  );
  return dir;
}

/** Resolves true once a TCP connect to 127.0.0.1:port succeeds, false once it is refused. */
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
