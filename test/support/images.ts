/**
 * Container images for tests and the benchmark, built from local files only (no registry is reachable):
 * a static busybox FROM scratch, for the host's arch or a foreign one.
 */
import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO, scratchDir, type RunResult } from './env.js';
import { waitFor } from './wait.js';

/** The host's static busybox (Debian's busybox-static). */
export function hostBusybox(): string {
  const bb = ['/bin/busybox', '/usr/bin/busybox'].find((p) => fs.existsSync(p));
  if (!bb) throw new Error('busybox-static is not installed (apt-get install busybox-static)');
  return bb;
}

/**
 * The Dockerfile: busybox, its applets installed by a RUN step that also records the arch it ran on in
 * /built-on (one step, one layer: building the image proves RUN works, under binfmt for a foreign busybox).
 */
function dockerfile(more: string[] = []): string {
  return [
    'FROM scratch',
    'COPY busybox /bin/busybox',
    ...more,
    'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin && uname -m > /built-on"]',
    'CMD ["sh"]',
    '',
  ].join('\n');
}

/**
 * A build context for the busybox image: the host's busybox unless `busybox` names another (e.g.
 * arm64Busybox()), in `dir` (created) or a new temporary folder. World-readable, for tests run as another user.
 */
export async function busyboxContext(opts: { busybox?: string; dir?: string } = {}): Promise<string> {
  const dir = opts.dir ?? (await scratchDir('bbx'));
  await fsp.mkdir(dir, { recursive: true });
  await fsp.copyFile(opts.busybox ?? hostBusybox(), path.join(dir, 'busybox'));
  await fsp.chmod(path.join(dir, 'busybox'), 0o755);
  await fsp.writeFile(path.join(dir, 'Dockerfile'), dockerfile());
  await fsp.chmod(dir, 0o755);
  return dir;
}

/**
 * The busybox image plus two tiny static helpers compiled from test/e2e/fixtures (busybox has no UDP tool
 * and no inotify watcher), exposing port 80 (for `docker run -P`). Needs gcc and libc6-dev.
 */
export async function toolsContext(): Promise<string> {
  const dir = await busyboxContext();
  const fixtures = path.join(REPO, 'test', 'e2e', 'fixtures');
  for (const tool of ['udp-echo', 'inotify-watch']) {
    await execa('gcc', ['-static', '-O2', '-o', path.join(dir, tool), path.join(fixtures, `${tool}.c`)]);
  }
  await fsp.writeFile(
    path.join(dir, 'Dockerfile'),
    dockerfile(['COPY udp-echo inotify-watch /bin/', 'EXPOSE 80']),
  );
  return dir;
}

/**
 * One file out of a Debian package, fetched once with `apt-get download` and cached in the fixtures folder:
 * the package is never installed (docker-registry's would start a service listening on every interface).
 */
async function fromDebianPackage(pkg: string, member: string, name: string): Promise<string> {
  const cache = path.join(os.homedir(), '.cache', 'berth', 'fixtures');
  const bin = path.join(cache, name);
  if (fs.existsSync(bin)) return bin;
  await fsp.mkdir(cache, { recursive: true });
  const dl = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-deb-'));
  await fsp.chmod(dl, 0o777); // apt's sandbox user writes the download here
  let r = await execa('apt-get', ['download', pkg], { cwd: dl, reject: false });
  if (r.exitCode !== 0) {
    await execa('apt-get', ['update', '-qq']);
    r = await execa('apt-get', ['download', pkg], { cwd: dl });
  }
  const deb = (await fsp.readdir(dl)).find((f) => f.endsWith('.deb'))!;
  const out = await execa(
    'sh',
    ['-c', `dpkg-deb --fsys-tarfile '${path.join(dl, deb)}' | tar -xO '${member}' > '${bin}.tmp'`],
    { reject: false },
  );
  await fsp.rm(dl, { recursive: true, force: true });
  if (out.exitCode !== 0) throw new Error(`could not extract ${member} from ${pkg}`);
  await fsp.chmod(`${bin}.tmp`, 0o755);
  await fsp.rename(`${bin}.tmp`, bin);
  return bin;
}

/** Debian's docker-registry (distribution 2.8), for a registry on the host's loopback in tests. */
export function registryBinary(): Promise<string> {
  return fromDebianPackage('docker-registry', './usr/bin/docker-registry', 'docker-registry');
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
  const out = await execa(
    'sh',
    ['-c', `dpkg-deb --fsys-tarfile '${path.join(dl, deb)}' | tar -xO ./bin/busybox > '${bin}.tmp'`],
    { reject: false },
  );
  await fsp.rm(dl, { recursive: true, force: true });
  if (out.exitCode !== 0) throw new Error('could not extract busybox from busybox-static:arm64');
  await fsp.chmod(`${bin}.tmp`, 0o755);
  await fsp.rename(`${bin}.tmp`, bin);
  return bin;
}

/**
 * Starts `inotify-watch /w` (in toolsContext's image) as container NAME over hostDir, waits until it watches,
 * and returns a reader of what it has printed so far (one line per event, with the path).
 */
export async function startWatcher(
  docker: (args: string[]) => Promise<RunResult>,
  name: string,
  hostDir: string,
  image: string,
): Promise<() => Promise<string>> {
  const r = await docker(['run', '-d', '--name', name, '-v', `${hostDir}:/w`, image, 'inotify-watch', '/w']);
  if (r.code !== 0) throw new Error(`docker run of the watcher ${name} failed:\n${r.stderr}`);
  const logs = async () => (await docker(['logs', name])).stdout;
  await waitFor(async () => (await logs()).includes('watching /w'), 10000, `the watcher ${name} to start`);
  return logs;
}
