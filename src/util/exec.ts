import type { Options } from 'execa';
import { BerthError } from './errors.js';

/** Debian package that provides each external tool berth calls. */
export const TOOL_PACKAGES: Record<string, string> = {
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-system-aarch64': 'qemu-system-arm',
  'qemu-img': 'qemu-utils',
  mmdebstrap: 'mmdebstrap',
  'mkfs.ext4': 'e2fsprogs',
  debugfs: 'e2fsprogs',
  newuidmap: 'uidmap',
  tar: 'tar',
  xz: 'xz-utils',
  setpriv: 'util-linux',
  docker: 'docker-ce-cli or docker.io',
};

/** Runs a short-lived command; errors keep the command line, exit code and stderr. */
export async function run(
  file: string,
  args: string[],
  opts: Options & { timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  // execa is loaded on first use: the start path (CLI and agent) rarely needs it and it costs ~80 ms to load.
  const { execa } = await import('execa');
  try {
    const res = await execa(file, args, {
      timeout: opts.timeoutMs,
      forceKillAfterDelay: 3000,
      ...opts,
    });
    return { stdout: String(res.stdout ?? ''), stderr: String(res.stderr ?? '') };
  } catch (err) {
    const e = err as {
      code?: string;
      exitCode?: number;
      stderr?: unknown;
      timedOut?: boolean;
      shortMessage?: string;
    };
    if (e.code === 'ENOENT') throw missingTool(file, err);
    if (e.timedOut) {
      throw new BerthError('TIMEOUT', `${file} did not finish within ${opts.timeoutMs} ms`, { cause: err });
    }
    const stderr = String(e.stderr ?? '').trim();
    throw new BerthError('INTERNAL', `${[file, ...args].join(' ')} failed (exit ${e.exitCode ?? '?'})`, {
      cause: err,
      details: stderr.split('\n').slice(-15).join('\n'),
    });
  }
}

export function missingTool(file: string, cause?: unknown): BerthError {
  const base = file.split('/').pop() ?? file;
  const pkg = TOOL_PACKAGES[base];
  return new BerthError('MISSING_DEPENDENCY', `${base} was not found on PATH`, {
    hint: pkg ? `install it: apt-get install ${pkg}` : `install ${base}`,
    cause,
  });
}

/** Finds an executable on PATH; returns undefined when it is not there. */
export async function which(file: string, pathEnv = process.env.PATH ?? ''): Promise<string | undefined> {
  const { access, constants } = await import('node:fs/promises');
  const path = await import('node:path');
  for (const dir of pathEnv.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, file);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory: keep looking
    }
  }
  return undefined;
}

export async function requireTool(file: string, pathEnv?: string): Promise<string> {
  const found = await which(file, pathEnv);
  if (!found) throw missingTool(file);
  return found;
}
