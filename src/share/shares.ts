import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { reservedGuestPath, type InstanceConfig, type MountConfig } from '../config/schema.js';
import { fieldName } from '../config/load.js';
import { BerthError } from '../util/errors.js';
import { escapePath } from '../util/escape.js';

/** One host folder shared into the guest. */
export interface Share {
  /** virtio-9p mount tag (berth0, berth1, …). */
  tag: string;
  hostPath: string;
  guestPath: string;
  writable: boolean;
  cache: MountConfig['cache'];
  /** Synchronised (see berth-syncd): the guest works on its own copy, kept in step with the host folder. */
  sync: boolean;
}

/** The name of a synchronised folder's copy in the guest (/var/lib/berth/sync/<id>): from its host path. */
export function syncId(hostPath: string): string {
  return crypto.createHash('sha256').update(hostPath).digest('hex').slice(0, 16);
}

/** 9p message size: the largest the guest kernel's virtio transport takes (125 pages). */
export const NINEP_MSIZE = 512000;

export function expandHome(p: string, home = os.homedir()): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return path.join(home, p.slice(2));
  return p;
}

/**
 * The shares of a config, checked: host folders exist and are directories, guest paths are not the
 * guest's own system directories and do not repeat. Errors name the YAML field.
 */
export function resolveShares(
  cfg: Pick<InstanceConfig, 'mounts'>,
  file: string,
  home = os.homedir(),
): Share[] {
  const seen = new Map<string, number>();
  return cfg.mounts.map((m, i) => {
    const field = (k: string) => `${file}: ${fieldName(['mounts', i, k])}`;
    const hostPath = path.resolve(expandHome(m.location, home));
    let st: fs.Stats;
    try {
      st = fs.statSync(hostPath);
    } catch {
      throw new BerthError('BAD_CONFIG', `${field('location')}: ${hostPath} does not exist`, {
        hint: 'create the folder, or remove the entry from mounts',
      });
    }
    if (!st.isDirectory())
      throw new BerthError('BAD_CONFIG', `${field('location')}: ${hostPath} is not a directory`);
    const guestPath = path.posix.resolve(m.mountPoint ?? hostPath);
    if (reservedGuestPath(guestPath)) {
      throw new BerthError(
        'BAD_CONFIG',
        `${field(m.mountPoint ? 'mountPoint' : 'location')}: ${guestPath} is a system directory of the guest`,
        {
          hint: 'share it at another guest path with mountPoint',
        },
      );
    }
    const dup = seen.get(guestPath);
    if (dup !== undefined) {
      throw new BerthError(
        'BAD_CONFIG',
        `${field('mountPoint')}: ${guestPath} is already shared by mounts[${dup}]`,
      );
    }
    seen.set(guestPath, i);
    return { tag: `berth${i}`, hostPath, guestPath, writable: m.writable, cache: m.cache, sync: m.sync };
  });
}

/**
 * The fw_cfg "mounts" entry mount_shares reads in the guest: tag TAB guest path TAB mount options; a
 * synchronised folder has berth.sync=<id> among them (see berth-syncd).
 */
export function guestMountTable(shares: Share[]): string {
  return shares
    .map((s) => {
      if (/[\t\n]/.test(s.guestPath))
        throw new BerthError(
          'BAD_CONFIG',
          `a shared folder path may not contain tabs or newlines: ${JSON.stringify(s.guestPath)}`,
        );
      const sync = s.sync ? `,berth.sync=${syncId(s.hostPath)}` : '';
      return `${s.tag}\t${s.guestPath}\t${s.writable ? 'rw' : 'ro'},msize=${NINEP_MSIZE},cache=${s.cache}${sync}\n`;
    })
    .join('');
}

/**
 * The fw_cfg "hide" entry: berth's own folders (its home, the image cache) where they fall inside a shared
 * folder, as guest paths, one per line (%-escaped: see util/escape.ts). The guest mounts an empty read-only
 * tmpfs over each before the engine starts, so no container reaches them through a share, including through
 * `-v "$HOME":/h` (Docker's binds are recursive). A synchronised folder's host side is mounted at
 * /run/berth/sync/<tag>; its copy never holds them (syncManifest leaves them out).
 */
export function guestHiddenPaths(shares: Share[], berthDirs: string[]): string {
  const out: string[] = [];
  for (const s of shares) {
    const base = s.sync ? `/run/berth/sync/${s.tag}` : s.guestPath;
    for (const d of berthDirs) {
      const rel = path.relative(s.hostPath, d);
      if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) continue;
      out.push(escapePath(path.posix.join(base, rel.split(path.sep).join('/'))));
    }
  }
  return out.map((p) => `${p}\n`).join('');
}
