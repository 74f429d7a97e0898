import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  berth,
  berthOk,
  docker,
  dockerOk,
  makeEnv,
  printInstanceLogs,
  writeConfig,
  type Env,
} from '../support/env.js';
import { arm64Busybox, busyboxContext, hostBusybox, registryBinary } from '../support/images.js';
import { freePort, httpGet } from '../support/net.js';
import { waitFor } from '../support/wait.js';

// The current engine from the host's point of view: Docker Engine 28 with BuildKit, the compose and buildx
// plugins berth installs into the (throwaway) DOCKER_CONFIG, the containerd image store (multi-platform images),
// and the YAML's docker: settings (an insecure registry on the host). One VM for all.
const NAME = 'engine';
let e: Env;
let registry: ReturnType<typeof execa> | undefined;
let registryPort: number;

async function write(dir: string, files: Record<string, string>): Promise<string> {
  for (const [f, text] of Object.entries(files)) {
    await fsp.mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await fsp.writeFile(path.join(dir, f), text);
  }
  return dir;
}

describe('engine: BuildKit, compose, buildx, settings', () => {
  beforeAll(async () => {
    e = await makeEnv('engine');
    // Debian's docker-registry (distribution, the binary only), on the host's loopback only; the guest reaches it as
    // host.berth.internal, which the YAML declares insecure (plain HTTP).
    registryPort = await freePort();
    const regDir = path.join(e.root, 'registry');
    await fsp.mkdir(regDir);
    const regConf = path.join(e.root, 'registry.yml');
    await fsp.writeFile(
      regConf,
      [
        'version: 0.1',
        'storage:',
        `  filesystem: { rootdirectory: ${regDir} }`,
        'http:',
        `  addr: 127.0.0.1:${registryPort}`,
        '',
      ].join('\n'),
    );
    registry = execa(await registryBinary(), ['serve', regConf], { reject: false, stdio: 'ignore' });
    await writeConfig(
      e,
      NAME,
      [
        'cpus: 2',
        'memory: 2GiB',
        'docker:',
        `  insecure-registries: ["host.berth.internal:${registryPort}"]`,
        '  features: { buildkit: true }',
        '',
      ].join('\n'),
    );
    await berthOk(e, ['start', NAME]);
  });

  afterAll(async () => {
    if (e) await berth(e, ['delete', NAME, '--force']);
    registry?.kill();
  });

  it('runs Docker Engine 28 with the containerd image store; status shows the versions', async () => {
    const v = JSON.parse((await dockerOk(e, ['version', '--format', 'json'])).stdout) as {
      Server: { Version: string; Components: { Name: string; Version: string }[] };
    };
    expect(Number(v.Server.Version.split('.')[0])).toBeGreaterThanOrEqual(28);
    const info = (await dockerOk(e, ['info', '--format', '{{json .DriverStatus}}'])).stdout;
    expect(info).toContain('io.containerd.snapshotter.v1');
    const st = (await berthOk(e, ['status', NAME])).stdout;
    expect(st).toMatch(/dockerd 28\./);
    expect(st).toMatch(/containerd 2\./);
    expect(st).toMatch(/kernel 6\./);
  });

  it('builds BuildKit syntax (cache mounts, heredocs) without the legacy builder; a second build hits the cache', async () => {
    const ctx = await busyboxContext();
    await fsp.writeFile(
      path.join(ctx, 'Dockerfile'),
      [
        'FROM scratch',
        'COPY busybox /bin/busybox',
        'RUN ["/bin/busybox", "sh", "-c", "/bin/busybox --install -s /bin"]',
        'RUN --mount=type=cache,target=/cache echo hit >> /cache/count && wc -l < /cache/count > /cache-count',
        'RUN <<EOF',
        'echo "from a heredoc" > /heredoc',
        'EOF',
        '',
      ].join('\n'),
    );
    const first = await docker(e, ['build', '--progress=plain', '-t', 'bk', ctx]);
    expect(first.code, first.stderr).toBe(0);
    const out = first.stdout + first.stderr;
    expect(out).not.toMatch(/legacy builder/i);
    expect(out).toMatch(/#\d+ /); // BuildKit's progress output
    const heredoc = await dockerOk(e, ['run', '--rm', 'bk', 'cat', '/heredoc']);
    expect(heredoc.stdout.trim()).toBe('from a heredoc');
    const second = await docker(e, ['build', '--progress=plain', '-t', 'bk', ctx]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout + second.stderr).toMatch(/CACHED/);
  });

  it('docker compose up --build: two services, a named volume, a healthcheck, depends_on healthy, names, a port', async () => {
    const port = await freePort();
    const bb = await fsp.readFile(hostBusybox());
    const dir = await write(path.join(e.root, 'proj'), {
      'compose.yaml': [
        'services:',
        '  db:',
        '    build: ./db',
        '    volumes: [data:/data]',
        '    healthcheck:',
        '      test: ["CMD", "test", "-f", "/data/ready"]',
        '      interval: 1s',
        '      retries: 60',
        '  web:',
        '    build: ./web',
        '    depends_on:',
        '      db: { condition: service_healthy }',
        `    ports: ["${port}:8080"]`,
        'volumes:',
        '  data: {}',
        '',
      ].join('\n'),
      // db: writes its volume, then serves it to web on 9000 (by service name).
      'db/Dockerfile': [
        'FROM scratch',
        'COPY busybox /bin/busybox',
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        'CMD echo from-db > /data/msg && touch /data/ready && echo db up && nc -ll -p 9000 -e cat /data/msg',
        '',
      ].join('\n'),
      // web: asks db by name every second, serves the answer over HTTP on 8080.
      'web/Dockerfile': [
        'FROM scratch',
        'COPY busybox /bin/busybox',
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        'CMD mkdir -p /www && httpd -p 8080 -h /www && while true; do nc db 9000 </dev/null > /www/m && mv /www/m /www/msg; sleep 1; done',
        '',
      ].join('\n'),
    });
    for (const s of ['db', 'web']) await fsp.writeFile(path.join(dir, s, 'busybox'), bb, { mode: 0o755 });
    const up = await docker(e, ['compose', 'up', '-d', '--build'], { cwd: dir });
    expect(up.code, up.stderr).toBe(0);
    const body = await waitFor(
      async () => ((await httpGet(port, '/msg'))?.includes('from-db') ? 'from-db' : undefined),
      60000,
      'web to serve what it got from db',
    );
    expect(body).toContain('from-db');
    const ps = await dockerOk(e, ['compose', 'ps', '--format', 'json'], { cwd: dir });
    const rows = ps.stdout
      .trim()
      .split('\n')
      .flatMap((l) => JSON.parse(l) as { Service: string; Health: string; State: string } | object[]);
    const db = (rows as { Service: string; Health: string; State: string }[]).find((r) => r.Service === 'db');
    expect(db?.Health).toBe('healthy');
    const logs = await dockerOk(e, ['compose', 'logs', 'db'], { cwd: dir });
    expect(logs.stdout).toContain('db up');
    const down = await docker(e, ['compose', 'down', '-v'], { cwd: dir });
    expect(down.code, down.stderr).toBe(0);
    const vols = await dockerOk(e, ['volume', 'ls', '--format', '{{.Name}}']);
    expect(vols.stdout).not.toMatch(/proj_data/);
  });

  it('docker buildx builds one image for amd64 and arm64, and both run from the local store', async () => {
    const dir = path.join(e.root, 'multi');
    await fsp.mkdir(dir);
    await fsp.copyFile(hostBusybox(), path.join(dir, 'busybox-amd64'));
    await fsp.copyFile(await arm64Busybox(), path.join(dir, 'busybox-arm64'));
    await fsp.writeFile(
      path.join(dir, 'Dockerfile'),
      [
        'FROM scratch',
        'ARG TARGETARCH',
        'COPY busybox-${TARGETARCH} /bin/busybox',
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        'ENTRYPOINT ["/bin/busybox"]',
        '',
      ].join('\n'),
    );
    const b = await docker(e, [
      'buildx',
      'build',
      '--platform',
      'linux/amd64,linux/arm64',
      '-t',
      'multi',
      dir,
    ]);
    expect(b.code, b.stderr).toBe(0);
    for (const [platform, machine] of [
      ['linux/arm64', 'aarch64'],
      ['linux/amd64', 'x86_64'],
    ]) {
      const r = await dockerOk(e, ['run', '--rm', '--platform', platform!, 'multi', 'uname', '-m']);
      expect(r.stdout.trim()).toBe(machine);
    }
  });

  it("pushes to and pulls from an insecure registry the YAML's docker: section declares", async () => {
    const ref = `host.berth.internal:${registryPort}/berth/bb:1`;
    await dockerOk(e, ['build', '-q', '-t', ref, await busyboxContext()]);
    const push = await docker(e, ['push', ref]);
    expect(push.code, push.stderr).toBe(0);
    await dockerOk(e, ['rmi', ref]);
    const pull = await docker(e, ['pull', ref]);
    expect(pull.code, pull.stderr).toBe(0);
    expect((await dockerOk(e, ['run', '--rm', ref, 'echo', 'pulled'])).stdout.trim()).toBe('pulled');
    // It really went through the registry on the host.
    expect(
      fs.existsSync(path.join(e.root, 'registry', 'docker', 'registry', 'v2', 'repositories', 'berth', 'bb')),
    ).toBe(true);
  });

  it("a setting dockerd refuses fails the start with dockerd's own message; the YAML and instance.json stay as they were", async ({
    onTestFailed,
  }) => {
    let said = '';
    onTestFailed(async () => {
      console.log(`[engine] berth start said:\n${said}`);
      await printInstanceLogs(e, NAME);
    });
    await berthOk(e, ['stop', NAME]);
    const cfg = path.join(e.home, NAME, 'berth.yaml');
    const good = await fsp.readFile(cfg, 'utf8');
    const info = await fsp.readFile(path.join(e.home, NAME, 'instance.json'), 'utf8');
    // Well-formed for berth (bip is a daemon.json setting), refused by dockerd.
    const bad = good.replace('docker:\n', 'docker:\n  bip: not-an-address\n');
    await fsp.writeFile(cfg, bad);
    const r = await berth(e, ['start', NAME]);
    said = `exit ${r.code}\n${r.stderr}`;
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/the container engine refused to start: .*not-an-address/);
    expect(r.stderr).toMatch(/hint: fix the engine settings/);
    expect(await fsp.readFile(cfg, 'utf8')).toBe(bad);
    expect(await fsp.readFile(path.join(e.home, NAME, 'instance.json'), 'utf8')).toBe(info);
    expect(JSON.parse((await berth(e, ['status', NAME, '--json'])).stdout).status).toBe('Stopped');
    await fsp.writeFile(cfg, good);
    await berthOk(e, ['start', NAME]);
    expect((await dockerOk(e, ['info', '--format', '{{.ServerVersion}}'])).stdout).toMatch(/^28\./);
  });
});
