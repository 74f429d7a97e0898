import net from 'node:net';
import { BerthError } from '../util/errors.js';
import { escapePath, escapeWord } from '../util/escape.js';
import { lineSplitter } from '../util/lines.js';
import { retryUntil } from '../util/retry.js';

/** " kernel=1.30 initrd=2.05" → { kernel: 1300, initrd: 2050 } (ms). */
export function parseBootMarks(text: string): Record<string, number> {
  return Object.fromEntries(
    [...text.matchAll(/(\w+)=([\d.]+)/g)].map((m) => [m[1]!, Math.round(Number(m[2]) * 1000)]),
  );
}

/**
 * The guest's boot, phase by phase, from its milestones (see bootMarks): how long the kernel took until it ran
 * the initrd, the initrd until the root was mounted, berth-init's start, the services until dockerd started,
 * and dockerd until it answered. Phases whose milestones are missing are left out.
 */
export function guestBootPhases(marks: Record<string, number>): Array<[string, number]> {
  const order: Array<[string, string]> = [
    ['kernel', 'kernel'],
    ['initrd', 'initrd'],
    ['init', 'init'],
    ['services', 'dockerd'],
    ['dockerd', 'engine'],
  ];
  const phases: Array<[string, number]> = [];
  let prev = 0;
  for (const [phase, mark] of order) {
    const at = marks[mark];
    if (at === undefined) continue;
    phases.push([phase, at - prev]);
    prev = at;
  }
  return phases;
}

/** The guest clock against the host's: offset (guest − host) and its bound (half the round trip), in ms. */
export interface ClockOffset {
  offsetMs: number;
  uncertaintyMs: number;
}

/**
 * Pure: the guest's `clock` payload ("1764578400.123456789") read against when the question left and the answer
 * came (host ms). Anything but epoch seconds with a fraction is no answer (the guest is not trusted).
 */
export function parseClockAnswer(
  payload: string,
  sentMs: number,
  receivedMs: number,
): ClockOffset | undefined {
  if (!/^\d{1,12}(\.\d{1,9})?$/.test(payload)) return undefined;
  const guestMs = Number(payload) * 1000;
  const half = Math.max(0, receivedMs - sentMs) / 2;
  return { offsetMs: Math.round(guestMs - (sentMs + half)), uncertaintyMs: Math.ceil(half) };
}

/** The longest line the host reads from the guest (a "ports" report of a few thousand ports fits). */
export const MAX_GUEST_LINE = 1 << 20;

/**
 * Host end of the virtio-serial channel (QEMU exposes it as a unix socket server); the protocol:
 * guest/PROTOCOL.md. Readiness, the clock after a resume, the guest's listening ports, file events for shared
 * folders, and unmounting shares around a suspend.
 */
export class GuestChannel {
  private sock?: net.Socket;
  private lineWaiters: Array<{ match: (l: string) => boolean; resolve: (l: string) => void }> = [];
  private sawReady = false;
  /** From "engine-failed": the engine's own last words when it would not start (e.g. a setting it refuses). */
  engineFailure: string | undefined;
  /**
   * berth-guestd's protocol version ("ready 3"/"pong 3"; GUEST_PROTOCOL for an image of this berth); 1 for
   * older guests, which send no number.
   */
  version = 0;
  private portsHandler?: (text: string) => void;
  private pendingPorts?: string;
  /** Told when the guest breaks the protocol's bounds (the agent logs it as a notice). */
  problem?: (message: string) => void;

  constructor(private readonly path: string) {}

  /**
   * From "ready": when the boot's milestones happened in the guest, in ms since its kernel started, plus when
   * the guest saw the engine answer ("engine"), e.g. { kernel: 1300, initrd: 2050, init: 2900, dockerd: 3710, engine: 12750 }.
   */
  bootMarks: Record<string, number> = {};

  private onLine(line: string): void {
    const hello = /^(ready|pong)(?: (\d+))?((?: \w+=[\d.]+)*)$/.exec(line);
    if (hello) {
      this.sawReady = true;
      this.version = Number(hello[2] ?? 1);
      if (hello[1] === 'ready' && hello[3]) this.bootMarks = parseBootMarks(hello[3]);
    }
    // A burst of reports: only the latest one counts, handled once the burst is read.
    if (line === 'ports' || line.startsWith('ports ')) {
      if (this.pendingPorts === undefined)
        setImmediate(() => {
          const text = this.pendingPorts!;
          this.pendingPorts = undefined;
          this.portsHandler?.(text);
        });
      this.pendingPorts = line.slice(6);
    }
    // Bounded: the guest is not trusted with the host's memory.
    if (line.startsWith('engine-failed ')) this.engineFailure = line.slice(14, 14 + 1000);
    this.lineWaiters = this.lineWaiters.filter((w) => {
      if (!w.match(line)) return true;
      w.resolve(line);
      return false;
    });
  }

  private connectOnce(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection(this.path);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
  }

  /** Connects, retrying while QEMU sets the socket up. */
  async connect(timeoutMs: number, stopped: () => boolean): Promise<void> {
    const s = await retryUntil(
      () =>
        this.connectOnce().catch(() => {
          if (stopped()) throw new BerthError('VM_FAILED', 'the VM stopped');
          return undefined; // QEMU has not made the socket yet
        }),
      (s) => s !== undefined,
      {
        intervalMs: 100,
        timeoutMs,
        onTimeout: () => {
          throw new BerthError('TIMEOUT', `cannot connect to the guest channel ${this.path}`);
        },
      },
    );
    this.sock = s;
    s!.setEncoding('utf8');
    s!.on(
      'data',
      lineSplitter((line) => this.onLine(line), {
        maxLine: MAX_GUEST_LINE,
        // Not a guest berth made: stop listening to it rather than let it hold the agent's memory or time.
        onOverflow: (n) => {
          this.problem?.(`the guest sent a line of over ${n} bytes on its channel: disconnected from it`);
          s!.destroy();
        },
      }),
    );
    s!.on('error', () => undefined); // 'close' follows; the agent notices the VM going away by its pid
    s!.on('close', () => (this.sock = undefined));
  }

  private send(line: string): void {
    this.sock?.write(`${line}\n`);
  }

  private waitLine(match: (l: string) => boolean, timeoutMs: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const w = { match, resolve: (l: string) => (clearTimeout(t), resolve(l)) };
      const t = setTimeout(() => {
        this.lineWaiters = this.lineWaiters.filter((x) => x !== w);
        resolve(undefined);
      }, timeoutMs);
      this.lineWaiters.push(w);
    });
  }

  /** Resolves once the guest says it is ready; pings every second in case "ready" was sent before we connected. */
  async waitReady(timeoutMs: number, stopped: () => boolean): Promise<void> {
    await retryUntil(
      async () => {
        if (this.sawReady) return true;
        if (stopped()) throw new BerthError('VM_FAILED', 'the VM stopped while booting');
        if (this.engineFailure !== undefined)
          throw new BerthError('BAD_CONFIG', `the container engine refused to start: ${this.engineFailure}`, {
            hint: 'fix the engine settings (the docker: section of the instance YAML), then start again',
          });
        this.send('ping');
        await this.waitLine((l) => /^(ready|pong|engine-failed)\b/.test(l), 1000);
        return this.sawReady;
      },
      Boolean,
      {
        intervalMs: 0, // waitLine above already waits up to a second
        timeoutMs,
        onTimeout: () => {
          throw new BerthError('TIMEOUT', `the guest did not report ready within ${timeoutMs / 1000} s`, {
            hint: 'see "berth logs" for the guest console',
          });
        },
      },
    );
  }

  /**
   * Sets the guest clock to the host's; false if the guest did not confirm in time. Resent until answered:
   * right after a resume the guest end may still be noticing that a new host end connected.
   */
  async setTime(timeoutMs = 5000): Promise<boolean> {
    const answer = await retryUntil(
      () => {
        this.send(`time ${(Date.now() / 1000).toFixed(3)}`);
        return this.waitLine((l) => l.endsWith(' time'), 250);
      },
      (r) => r !== undefined,
      { intervalMs: 0, timeoutMs },
    );
    return answer === 'ok time';
  }

  /** Receives every listener list the guest sends; asks for one at once. */
  onPorts(handler: (text: string) => void): void {
    this.portsHandler = handler;
    this.send('ports');
  }

  /** Wakes inotify watchers in the guest for these guest paths (changed on the host side of a share). */
  touch(guestPaths: string[]): void {
    for (const p of guestPaths) this.send(`touch ${escapePath(p)}`);
  }

  /** Host-side changes in synchronised folders, with the host's state of each path (see berth-syncd). */
  sync(changes: { guestPath: string; state: string }[]): void {
    for (const c of changes) this.send(`sync ${escapeWord(c.guestPath)} ${escapeWord(c.state)}`);
  }

  /** Holds these shared directories open in the guest, so that watchers and touches share their inodes. */
  pin(guestDirs: string[]): void {
    for (const p of guestDirs) this.send(`pin ${escapePath(p)}`);
  }

  unpin(guestDirs: string[]): void {
    for (const p of guestDirs) this.send(`unpin ${escapePath(p)}`);
  }

  /**
   * Sends `line` and waits for the guest's answer, a line that starts with the word `answer`: what follows the
   * word ('' for the bare word); undefined without an answer in time.
   */
  private async ask(line: string, answer: string, timeoutMs: number): Promise<string | undefined> {
    this.send(line);
    const r = await this.waitLine((l) => l === answer || l.startsWith(`${answer} `), timeoutMs);
    return r?.slice(answer.length + 1);
  }

  /** The qemu-user architectures registered in the guest; undefined if the guest did not answer. */
  async binfmt(timeoutMs = 5000): Promise<string[] | undefined> {
    return (await this.ask('binfmt', 'binfmt', timeoutMs))?.split(/\s+/).filter(Boolean);
  }

  /**
   * `usage DIR`: what the guest says of the file system holding DIR and of its memory, as it said it ("size used
   * avail memtotal memavailable"; parseGuestUsage reads it); undefined without an answer.
   */
  usage(dir: string, timeoutMs = 5000): Promise<string | undefined> {
    return this.ask(`usage ${dir}`, 'usage', timeoutMs);
  }

  /**
   * How far the guest's wall clock is from the host's (ms, positive: the guest is ahead), measured NTP-style:
   * the guest's `clock` answer against the midpoint of the round trip, which bounds the error (half of it).
   * undefined without a (well-formed) answer.
   */
  async clockOffset(timeoutMs = 5000): Promise<ClockOffset | undefined> {
    const sent = Date.now();
    const r = await this.ask('clock', 'clock', timeoutMs);
    const received = Date.now();
    return r === undefined ? undefined : parseClockAnswer(r, sent, received);
  }

  /** Before a suspend: the guest syncs its disks and drops its clean caches; the problem, if any. */
  flush(timeoutMs = 60000): Promise<string | undefined> {
    return this.request('flush', timeoutMs);
  }

  private async request(cmd: 'unmount' | 'mount' | 'flush', timeoutMs: number): Promise<string | undefined> {
    this.send(cmd);
    const r = await this.waitLine((l) => l === `ok ${cmd}` || l.startsWith(`err ${cmd}`), timeoutMs);
    if (r === undefined) return `no answer from the guest within ${timeoutMs / 1000} s`;
    return r === `ok ${cmd}` ? undefined : r.slice(`err ${cmd}`.length).trim() || 'failed';
  }

  /** Unmounts the shared folders (QEMU cannot save a VM with 9p mounted); the problem, if any. */
  unmountShares(timeoutMs = 15000): Promise<string | undefined> {
    return this.request('unmount', timeoutMs);
  }

  mountShares(timeoutMs = 30000): Promise<string | undefined> {
    return this.request('mount', timeoutMs);
  }

  close(): void {
    this.sock?.destroy();
  }
}
