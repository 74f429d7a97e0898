import { execa } from 'execa';
import { which } from '../util/exec.js';

/** Name of the docker context for an instance: "berth" for default, "berth-NAME" otherwise. */
export function contextName(instance: string): string {
  return instance === 'default' ? 'berth' : `berth-${instance}`;
}

async function docker(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const r = await execa('docker', args, { reject: false, env: { DOCKER_CONTEXT: undefined, DOCKER_HOST: undefined } });
  return { ok: r.exitCode === 0, stdout: String(r.stdout).trim(), stderr: String(r.stderr).trim() };
}

export async function dockerCliAvailable(): Promise<boolean> {
  return (await which('docker')) !== undefined;
}

export async function currentContext(): Promise<string | undefined> {
  const r = await docker(['context', 'show']);
  return r.ok ? r.stdout : undefined;
}

/** Creates or updates the instance's context to point at its socket; optionally makes it current. */
export async function ensureContext(instance: string, socketPath: string, activate: boolean): Promise<string> {
  const name = contextName(instance);
  const endpoint = `host=unix://${socketPath}`;
  const exists = (await docker(['context', 'inspect', name])).ok;
  const r = exists
    ? await docker(['context', 'update', name, '--docker', endpoint])
    : await docker(['context', 'create', name, '--description', `berth instance ${instance}`, '--docker', endpoint]);
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
