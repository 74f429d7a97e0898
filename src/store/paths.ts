import os from 'node:os';
import path from 'node:path';
import { FILES, HOME_FILES } from './filenames.js';

export function berthHome(): string {
  return path.resolve(process.env.BERTH_HOME ?? path.join(os.homedir(), '.berth'));
}

/** Guest image cache: shared by all instances of a user (XDG cache dir). */
export function imageCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return path.resolve(process.env.BERTH_IMAGE_CACHE ?? path.join(base, 'berth', 'images'));
}

export function instanceDir(name: string): string {
  return path.join(berthHome(), name);
}

export function instanceFile(name: string, file: keyof typeof FILES): string {
  return path.join(instanceDir(name), FILES[file]);
}

export function homeFile(file: keyof typeof HOME_FILES): string {
  return path.join(berthHome(), HOME_FILES[file]);
}

export const NAME_RE = /^[a-z0-9][a-z0-9-]{0,30}$/;
