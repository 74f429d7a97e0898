import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { which } from '../../util/exec.js';

/** Name of the docker context for an instance: "berth" for default, "berth-NAME" otherwise. */
export function contextName(instance: string): string {
  return instance === 'default' ? 'berth' : `berth-${instance}`;
}

async function docker(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const { execa } = await import('execa');
  const r = await execa('docker', args, {
    reject: false,
    env: { DOCKER_CONTEXT: undefined, DOCKER_HOST: undefined },
  });
  return { ok: r.exitCode === 0, stdout: String(r.stdout).trim(), stderr: String(r.stderr).trim() };
}

export async function dockerCliAvailable(): Promise<boolean> {
  return (await which('docker')) !== undefined;
}

export async function currentContext(): Promise<string | undefined> {
  const r = await docker(['context', 'show']);
  return r.ok ? r.stdout : undefined;
}

function dockerConfigDir(): string {
  return process.env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker');
}

/**
 * Reads the docker CLI's own files to see whether a context already points at `socketPath` (and is current
 * when `activate`). Each docker CLI call costs 0.1–0.3 s, which matters on a 2 s warm start. Any doubt
 * (unreadable files, a format change) answers false and the caller uses the CLI.
 */
export async function contextUpToDate(name: string, socketPath: string, activate: boolean): Promise<boolean> {
  try {
    const dir = dockerConfigDir();
    const id = createHash('sha256').update(name).digest('hex');
    const meta = JSON.parse(
      await fsp.readFile(path.join(dir, 'contexts', 'meta', id, 'meta.json'), 'utf8'),
    ) as {
      Name?: string;
      Endpoints?: { docker?: { Host?: string } };
    };
    if (meta.Name !== name || meta.Endpoints?.docker?.Host !== `unix://${socketPath}`) return false;
    if (!activate) return true;
    const cfg = JSON.parse(await fsp.readFile(path.join(dir, 'config.json'), 'utf8')) as {
      currentContext?: string;
    };
    return cfg.currentContext === name;
  } catch {
    return false; // not there or not readable: let the docker CLI do it
  }
}

/** Creates or updates the instance's context to point at its socket; optionally makes it current. */
export async function ensureContext(
  instance: string,
  socketPath: string,
  activate: boolean,
): Promise<string> {
  const name = contextName(instance);
  if (await contextUpToDate(name, socketPath, activate)) return name;
  const endpoint = `host=unix://${socketPath}`;
  const exists = (await docker(['context', 'inspect', name])).ok;
  const r = exists
    ? await docker(['context', 'update', name, '--docker', endpoint])
    : await docker([
        'context',
        'create',
        name,
        '--description',
        `berth instance ${instance}`,
        '--docker',
        endpoint,
      ]);
  if (!r.ok) throw new Error(`docker context ${exists ? 'update' : 'create'} ${name} failed: ${r.stderr}`);
  if (activate) {
    const u = await docker(['context', 'use', name]);
    if (!u.ok) throw new Error(`docker context use ${name} failed: ${u.stderr}`);
  }
  return name;
}

/** Removes the instance's context; if it was current, switches to "default". Returns what happened. */
export async function removeContext(instance: string): Promise<{ removed: boolean; wasCurrent: boolean }> {
  const name = contextName(instance);
  if (!(await docker(['context', 'inspect', name])).ok) return { removed: false, wasCurrent: false };
  const wasCurrent = (await currentContext()) === name;
  if (wasCurrent) await docker(['context', 'use', 'default']);
  const r = await docker(['context', 'rm', '-f', name]);
  return { removed: r.ok, wasCurrent };
}

/** Makes "default" the current context (the instance's context stays, for the next start). */
export async function useDefaultContext(): Promise<boolean> {
  return (await docker(['context', 'use', 'default'])).ok;
}
