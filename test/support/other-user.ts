/**
 * berth run by an ordinary user, from a root test or benchmark (CI runs as root): the user, a world-readable
 * copy of this checkout's CLI for it, and commands run as it with its own BERTH_HOME and DOCKER_CONFIG and a
 * login's plain PATH (no /usr/sbin). Its image cache stays between runs: the images in it are the ones that
 * user built (scripts/quickstart-as-user.sh runs the quickstart as the same user first in CI).
 */
import { execa } from 'execa';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { REPO, type RunResult } from './env.js';
import { recordBerth } from './timings.js';

export interface OtherUser {
  name: string;
  uid: number;
  home: string;
  /** `ARGS` as the user, with HOME, BERTH_HOME (~/.berth) and DOCKER_CONFIG (~/.docker) its own. */
  run(args: string[], env?: Record<string, string>): Promise<RunResult>;
  /** `berth ARGS` as the user, from its copy of the CLI. */
  berth(args: string[], env?: Record<string, string>): Promise<RunResult>;
  /** Removes the CLI copy (the user and its home stay, for the next run). */
  dispose(): Promise<void>;
}

/**
 * The user NAME (created when missing) with its berth state and docker config cleared (its image cache kept),
 * and a world-readable copy of the built CLI. Root only.
 */
export async function otherUser(name: string): Promise<OtherUser> {
  if ((await execa('id', ['-u', name], { reject: false })).exitCode !== 0) {
    await execa('useradd', ['--create-home', '--shell', '/bin/sh', name]);
  }
  const uid = Number((await execa('id', ['-u', name])).stdout.trim());
  const home = (await execa('sh', ['-c', `getent passwd ${name} | cut -d: -f6`])).stdout.trim();
  const app = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-app-'));
  for (const d of ['bin', 'dist', 'guest', 'node_modules', 'package.json']) {
    await fsp.cp(path.join(REPO, d), path.join(app, d), { recursive: true });
  }
  await execa('chmod', ['-R', 'a+rX', app]);

  const run = async (args: string[], env: Record<string, string> = {}): Promise<RunResult> => {
    const r = await execa(
      'runuser',
      [
        '-u',
        name,
        '--',
        'env',
        `HOME=${home}`,
        `BERTH_HOME=${home}/.berth`,
        `DOCKER_CONFIG=${home}/.docker`,
        // What a login gives an ordinary user on Debian; the docker CLI is in /usr/bin or /usr/local/bin.
        'PATH=/usr/local/bin:/usr/bin:/bin',
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        ...args,
      ],
      { reject: false, cwd: '/' },
    );
    return { code: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
  };
  await run(['rm', '-rf', `${home}/.berth`, `${home}/.docker`]);
  return {
    name,
    uid,
    home,
    run,
    berth: async (args, env) => {
      const t0 = performance.now();
      const r = await run([process.execPath, path.join(app, 'bin', 'berth'), ...args], env);
      await recordBerth(args, performance.now() - t0, r);
      return r;
    },
    dispose: () => fsp.rm(app, { recursive: true, force: true }),
  };
}

/** Serves one file at http://127.0.0.1:PORT/NAME (any other path is a 404) until closed. */
export async function serveFile(file: string): Promise<{ url: string; close: () => void }> {
  const name = `/${path.basename(file)}`;
  const server = http.createServer((req, res) => {
    if (req.url !== name) return res.writeHead(404).end();
    res.writeHead(200, { 'content-length': fs.statSync(file).size });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}${name}`, close: () => server.close() };
}
