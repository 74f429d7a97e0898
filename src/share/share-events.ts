import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import watcher, { type AsyncSubscription, type Event } from '@parcel/watcher';
import { BerthError, errorMessage } from '../util/errors.js';
import { MAX_PINS } from '../guest/guest-config.js';
import { escapeWord } from '../util/escape.js';
import type { Logger } from '../util/logger.js';
import type { Share } from './shares.js';

/** At most this many paths are sent for one batch of host events. */
const MAX_PER_BATCH = 2000;
const MAX_REMEMBERED = 20000;
/** Touches are sent once a share's events pause this long (see ShareEventRelay)... */
export const SETTLE_MS = 100;
/** ...or once they have been held this long, for a stream of changes that never pauses. */
const MAX_HOLD_MS = 500;
/** More events than this in one folder in one batch are sent as one event for the folder. */
const BURST = 16;

/** What the relay needs from the guest (GuestChannel implements it). */
export interface GuestFileEvents {
  touch(guestPaths: string[]): void;
  sync(changes: { guestPath: string; state: string }[]): void;
  pin(guestDirs: string[]): void;
  unpin(guestDirs: string[]): void;
}

/** A burst in one folder (an unpacked archive, a build) wakes the folder once instead of every file. */
export function foldBursts(guestPaths: string[]): string[] {
  const perDir = new Map<string, string[]>();
  for (const p of guestPaths)
    perDir.set(path.posix.dirname(p), [...(perDir.get(path.posix.dirname(p)) ?? []), p]);
  const out = new Set<string>();
  for (const [dir, paths] of perDir) {
    if (paths.length > BURST) out.add(dir);
    else for (const p of paths) out.add(p);
  }
  return [...out];
}

/** Directories not held open in the guest: hidden ones (caches, .git) and node_modules. */
export function skipPin(name: string): boolean {
  return name.startsWith('.') || name === 'node_modules';
}

/** berth-syncd's temporary names (a copy on its way in, renamed over its target when complete). */
const SYNC_TEMP = /^\.berth-sync\./;

/**
 * A path's state as berth-syncd compares it: "f:<size>:<mtime s.ns>:<mode>", "d:<mode>", "l:<target>", "o"
 * (not synchronised), "none" (absent). With it, the guest sees that an event is its own copy coming back
 * without asking 9p (a round trip of ~0.5 ms under emulation).
 */
export function syncState(p: string): string {
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(p, { bigint: true });
  } catch {
    return 'none';
  }
  const mode = (st.mode & 0o7777n).toString(8);
  if (st.isFile()) {
    const ns = st.mtimeNs;
    return `f:${st.size}:${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}:${mode}`;
  }
  if (st.isDirectory()) return `d:${mode}`;
  if (st.isSymbolicLink()) {
    try {
      return `l:${fs.readlinkSync(p)}`;
    } catch {
      return 'none';
    }
  }
  return 'o';
}

/**
 * Every path under root (not root itself) with its syncState, a folder's entries at a time. A folder that
 * cannot be read throws: a list missing its paths would count them as deleted. One that vanished is skipped.
 */
export async function walkStates(
  root: string,
  ignore: string[],
  onBatch: (batch: [string, string][]) => void,
): Promise<void> {
  const queue = [root];
  while (queue.length > 0) {
    const dir = queue.shift()!;
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (dir !== root && (err as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted meanwhile
      throw new BerthError(
        'PERMISSION',
        `cannot list ${dir} in the synchronised folder ${root}: ${errorMessage(err)}`,
        {
          hint: 'make it readable, or remove "sync: true" from that mount',
          cause: err,
        },
      );
    }
    const batch: [string, string][] = [];
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (SYNC_TEMP.test(e.name) || ignore.some((i) => isUnder(p, i))) continue;
      batch.push([p, syncState(p)]);
      if (e.isDirectory()) queue.push(p);
    }
    onBatch(batch);
  }
}

/**
 * A synchronised folder's manifest for a cold boot (fw_cfg "sync-<tag>"): "<path> <state>" lines, the path
 * relative to the folder ("/a/b"), both %XX-escaped. berth-syncd makes its copy equal to it, reading over 9p
 * only what differs.
 */
export async function syncManifest(hostPath: string, ignore: string[]): Promise<string> {
  const lines: string[] = [];
  await walkStates(hostPath, ignore, (batch) => {
    for (const [p, state] of batch)
      lines.push(
        `${escapeWord('/' + path.relative(hostPath, p).split(path.sep).join('/'))} ${escapeWord(state)}\n`,
      );
  });
  return lines.join('');
}

function isUnder(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Carries file events from the host side of each share into the guest: 9p gives the guest no inotify events
 * for changes made on the host, so the host watches the folder (recursively, native inotify/FSEvents via
 * @parcel/watcher) and asks berth-guestd to "touch" the guest path, which wakes watchers in the guest and in
 * containers that bind-mount it.
 *
 * The touch sets and removes an extended attribute of berth's own on the guest path (where the file or the host
 * file system refuses one, it re-sets the mode), which the host sees as an attribute change: events whose
 * mtime was already sent are dropped, so nothing loops.
 *
 * Touches wait until a share's events pause for SETTLE_MS (at most MAX_HOLD_MS). Changes made by the guest
 * come back as host events too, and a touch that falls back to the mode reads it and sets it again: sent at once, it could land
 * between a guest program's create and its chmod (`echo > f && chmod 640 f`: 10-15 ms apart under
 * emulation) and put the old mode back (seen in an e2e run). Once the events have settled, the touch sets
 * the mode the file has by then.
 */
export class ShareEventRelay {
  private subs = new Map<Share, AsyncSubscription>();
  private stopped = false;
  private pending = new Set<string>();
  private holdSince?: number;
  private flushTimer?: NodeJS.Timeout;
  private sentMtime = new Map<string, string>();
  private pinned = new Set<string>();
  private capNoticed = false;

  constructor(
    private readonly shares: Share[],
    private readonly guest: GuestFileEvents,
    private readonly log: Logger,
    private readonly notice: (message: string) => void,
    /** Host paths never relayed (berth's own busy files: instance disks, the image cache). */
    private readonly ignore: string[] = [],
  ) {}

  /**
   * Holds the directories of every share open in the guest (see pin() in berth-guestd), walking breadth-first
   * from each share's root; hidden directories and node_modules are left out, and at most MAX_PINS in all.
   */
  async pinAll(): Promise<void> {
    this.pinned.clear();
    // A synchronised folder's guest side is the guest's own disk: its inodes stay, and berth-syncd's copies
    // wake watchers there natively.
    for (const share of this.shares) if (!share.sync) await this.pinTree(share, share.hostPath);
  }

  /** pinAll in the background (after a (re)mount in the guest); a failure is logged, never thrown. */
  repin(): void {
    void this.pinAll().catch((err) => this.log.warn({ err }, 'pinning shared directories failed'));
  }

  private async pinTree(share: Share, root: string): Promise<void> {
    const queue = [root];
    const batch: string[] = [];
    while (queue.length > 0) {
      const dir = queue.shift()!;
      if (this.ignore.some((i) => isUnder(dir, i))) continue;
      if (this.pinned.size >= MAX_PINS) {
        if (!this.capNoticed) {
          this.capNoticed = true;
          this.notice(
            `file events: only ${MAX_PINS} directories of the shared folders are watched for host-side changes`,
          );
        }
        break;
      }
      if (!this.pinned.has(dir)) {
        this.pinned.add(dir);
        batch.push(this.guestPath(share, dir));
      }
      if (batch.length >= 500) this.guest.pin(batch.splice(0));
      try {
        for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
          if (e.isDirectory() && !skipPin(e.name)) queue.push(path.join(dir, e.name));
        }
      } catch {
        // unreadable or gone: nothing below it to pin
      }
    }
    if (batch.length > 0) this.guest.pin(batch);
  }

  async start(): Promise<string[]> {
    const problems: string[] = [];
    this.repin();
    for (const share of this.shares) {
      try {
        await this.subscribe(share);
      } catch (err) {
        const m = `file events from ${share.hostPath} will not reach the guest: ${errorMessage(err)}`;
        this.log.warn({ err }, m);
        problems.push(m);
      }
    }
    return problems;
  }

  /**
   * Watches one share on the host. Only what is pinned in the guest can wake watchers there: hidden folders
   * and node_modules are not watched on the host either (and their file trees stay out of the watcher's
   * memory). A synchronised folder's copy must see every change.
   */
  private async subscribe(share: Share): Promise<void> {
    const ignore = this.ignore.filter((i) => isUnder(i, share.hostPath) && i !== share.hostPath);
    const sub = await watcher.subscribe(
      share.hostPath,
      (err, events) => {
        if (err) this.rewatch(share, err);
        else if (share.sync) this.relaySync(share, events);
        else this.relay(share, events);
      },
      { ignore: share.sync ? ignore : [...ignore, '**/.*', '**/node_modules'] },
    );
    if (this.stopped) {
      await sub.unsubscribe().catch(() => undefined);
      return;
    }
    this.subs.set(share, sub);
  }

  /**
   * The watcher's thread ended with an error: it watches nothing any more. @parcel/watcher gives up when a
   * signal lands on its thread while it polls (EINTR: "Unable to poll: Interrupted system call"), and a
   * SIGCHLD does, from any child of the agent or from QEMU stopped and continued around a host sleep. Watch
   * again at once, then make up for what changed while nothing watched: a rescan of a synchronised folder,
   * touches for what a 9p share's folders gained since just before the first error (`since`, kept across
   * retries).
   */
  private rewatch(share: Share, err: Error, attempt = 0, since = Date.now() - 1000): void {
    if (this.stopped) return;
    this.log.warn(
      { err, share: share.hostPath },
      `the file watcher on ${share.hostPath} failed: watching again`,
    );
    const old = this.subs.get(share);
    this.subs.delete(share);
    const again = async () => {
      await old?.unsubscribe().catch(() => undefined);
      if (this.stopped) return;
      try {
        await this.subscribe(share);
      } catch (e) {
        // Gone or unreadable for now: try again, less and less often (at most every 30 s).
        if (attempt === 0)
          this.notice(`file events from ${share.hostPath} stopped: ${errorMessage(e)}; retrying`);
        setTimeout(
          () => this.rewatch(share, err, attempt + 1, since),
          Math.min(30000, 500 * 2 ** attempt),
        ).unref();
        return;
      }
      this.log.info({ share: share.hostPath }, 'file watcher running again');
      if (share.sync) await this.resync(share);
      else await this.catchUp(share, since);
    };
    void again().catch((e) => this.log.warn({ err: e }, `watching ${share.hostPath} again failed`));
  }

  /**
   * What changed in a 9p share since `sinceMs` (ctime), relayed as if its events had come: a walk of the
   * folders pinned in the guest (no more than those), for the moments no watcher ran.
   */
  private async catchUp(share: Share, sinceMs: number): Promise<void> {
    const events: Event[] = [];
    for (const dir of [...this.pinned].filter((d) => isUnder(d, share.hostPath))) {
      let names: string[];
      try {
        names = await fsp.readdir(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        if (skipPin(name)) continue;
        const p = path.join(dir, name);
        const st = await fsp.lstat(p).catch(() => undefined);
        if (!st || st.ctimeMs < sinceMs) continue;
        // A new folder is pinned as its create event would have it.
        events.push({ type: st.isDirectory() && !this.pinned.has(p) ? 'create' : 'update', path: p });
      }
    }
    if (events.length > 0) this.relay(share, events);
  }

  /** mtime in nanoseconds, as text (exact; a number would round it). */
  private mtimeOf(p: string): string | undefined {
    try {
      return String(fs.lstatSync(p, { bigint: true }).mtimeNs);
    } catch {
      return undefined; // gone already: nothing to relay for it
    }
  }

  private relay(share: Share, events: Event[]): void {
    const out = new Set<string>();
    for (const e of events) {
      let hostPath = e.path;
      if (e.type === 'delete') {
        this.sentMtime.delete(hostPath);
        // The guest unpins the folder and everything under it: forget the same here.
        let unpin = false;
        for (const p of this.pinned) {
          if (isUnder(p, hostPath)) unpin = this.pinned.delete(p) || unpin;
        }
        if (unpin) this.guest.unpin([this.guestPath(share, hostPath)]);
        if (out.size >= MAX_PER_BATCH) continue;
        // The guest wakes the parent; remember its mtime so the echo of that is dropped.
        hostPath = path.dirname(hostPath);
        if (!isUnder(hostPath, share.hostPath)) continue;
        const m = this.mtimeOf(hostPath);
        if (m !== undefined) this.sentMtime.set(hostPath, m);
        out.add(this.guestPath(share, hostPath));
        continue;
      }
      if (
        e.type === 'create' &&
        !this.pinned.has(hostPath) &&
        !path.relative(share.hostPath, hostPath).split(path.sep).some(skipPin)
      ) {
        void this.pinIfDir(share, hostPath);
      }
      if (out.size >= MAX_PER_BATCH) continue;
      const m = this.mtimeOf(hostPath);
      if (m === undefined) continue;
      if (this.sentMtime.get(hostPath) === m) continue; // our own touch coming back, or a mode change only
      this.sentMtime.set(hostPath, m);
      out.add(this.guestPath(share, hostPath));
    }
    if (this.sentMtime.size > MAX_REMEMBERED) this.sentMtime.clear();
    if (out.size === 0) return;
    for (const p of out) if (this.pending.size < MAX_PER_BATCH) this.pending.add(p);
    const now = Date.now();
    this.holdSince ??= now;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    const wait = Math.max(0, Math.min(SETTLE_MS, this.holdSince + MAX_HOLD_MS - now));
    this.flushTimer = setTimeout(() => this.flush(), wait);
  }

  /** Sends the touches held since the events began (see the class comment). */
  private flush(): void {
    this.flushTimer = undefined;
    this.holdSince = undefined;
    const paths = foldBursts([...this.pending]);
    this.pending.clear();
    if (paths.length > 0) {
      this.log.debug({ paths: paths.slice(0, 20), count: paths.length }, 'file events relayed to the guest');
      this.guest.touch(paths);
    }
  }

  /**
   * The state of every path of each synchronised folder, between "scan-begin" and "scan-end" markers:
   * berth-syncd compares them with what it last synchronised (no 9p round trips), and takes paths it knows but
   * the scan did not list as deleted on the host. For changes made while no events could flow (the VM
   * suspended, the agent restarting).
   */
  async resync(only?: Share): Promise<void> {
    for (const share of this.shares.filter((s) => s.sync && (only === undefined || s === only))) {
      this.guest.sync([{ guestPath: share.guestPath, state: 'scan-begin' }]);
      let sent = 0;
      try {
        await walkStates(share.hostPath, this.ignore, (batch) => {
          this.guest.sync(batch.map(([p, state]) => ({ guestPath: this.guestPath(share, p), state })));
          sent += batch.length;
        });
      } catch (err) {
        // No "scan-end": the guest then takes nothing as deleted; the paths sent are compared all the same.
        this.notice(
          `${errorMessage(err)}; changes made there while no events flowed may not have reached the guest`,
        );
        continue;
      }
      this.guest.sync([{ guestPath: share.guestPath, state: 'scan-end' }]);
      this.log.info({ share: share.hostPath, paths: sent }, 'synchronised folder state sent to the guest');
    }
  }

  /** Every changed path of a synchronised folder, with its state now (berth-syncd drops its own echoes). */
  private relaySync(share: Share, events: Event[]): void {
    const changes = new Map<string, string>();
    for (const e of events) {
      if (SYNC_TEMP.test(path.basename(e.path))) continue;
      changes.set(e.path, syncState(e.path));
    }
    if (changes.size === 0) return;
    this.log.debug({ count: changes.size }, 'synchronised-folder changes sent to the guest');
    this.guest.sync([...changes].map(([p, state]) => ({ guestPath: this.guestPath(share, p), state })));
  }

  private async pinIfDir(share: Share, hostPath: string): Promise<void> {
    try {
      if ((await fsp.lstat(hostPath)).isDirectory()) await this.pinTree(share, hostPath);
    } catch {
      // gone again
    }
  }

  private guestPath(share: Share, hostPath: string): string {
    const rel = path.relative(share.hostPath, hostPath);
    return rel === '' ? share.guestPath : path.posix.join(share.guestPath, ...rel.split(path.sep));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.pending.clear();
    await Promise.all([...this.subs.values()].map((s) => s.unsubscribe().catch(() => undefined)));
    this.subs.clear();
  }
}
