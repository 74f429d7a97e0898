import fsp from 'node:fs/promises';
import { instanceFile } from '../store/paths.js';
import { writeFileAtomic } from '../store/instance-store.js';
import { isErrnoException } from '../util/errors.js';

/** Facts about the current (or last) run of an instance, written by its host agent. */
export interface RuntimeState {
  sshPort: number;
  accel: string;
  imageId: string;
  imageDir: string;
  qemuPid?: number;
  agentPid?: number;
  startedAt: string;
  /** Hardware fingerprint of the running VM (see saved-state.ts). */
  fingerprint?: string;
  /** Docker platforms the engine can run (native first), as found in the guest when it became ready. */
  platforms?: string[];
}

export async function readRuntime(name: string): Promise<RuntimeState | undefined> {
  try {
    return JSON.parse(await fsp.readFile(instanceFile(name, 'runtime'), 'utf8')) as RuntimeState;
  } catch (err) {
    if (isErrnoException(err, 'ENOENT') || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

export async function writeRuntime(name: string, st: RuntimeState): Promise<void> {
  await writeFileAtomic(instanceFile(name, 'runtime'), JSON.stringify(st, null, 2) + '\n');
}
