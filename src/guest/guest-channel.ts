import net from 'node:net';
import { BerthError } from '../util/errors.js';
import { lineSplitter } from '../util/lines.js';

/** Escapes a path for one line of the channel protocol (berth-guestd undoes it). */
export function escapePath(p: string): string {
  return p.replace(/[%\r\n]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`);
}

/**
 * Host end of the virtio-serial channel (QEMU exposes it as a unix socket server); the protocol is described
 * at berth-guestd (guest-files.ts). Readiness, the clock after a resume, the guest's listening ports, file
 * events for shared folders, and unmounting shares around a suspend.
 */
export class GuestChannel {
  private sock?: net.Socket;
  private lineWaiters: Array<{ match: (l: string) => boolean; resolve: (l: string) => void }> = [];
  private sawReady = false;
  /** berth-guestd's protocol version ("ready 2"/"pong 2"); 1 for older guests, which send no number. */
  version = 0;
  private portsHandler?: (text: string) => void;

  constructor(private readonly path: string) {}

  private onLine(line: string): void {
    const hello = /^(ready|pong)(?: (\d+))?$/.exec(line);
    if (hello) {
      this.sawReady = true;
      this.version = Number(hello[2] ?? 1);
    }
    if (line === 'ports' || line.startsWith('ports ')) this.portsHandler?.(line.slice(6));
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
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const s = await this.connectOnce();
        this.sock = s;
        s.setEncoding('utf8');
        s.on('data', lineSplitter((line) => this.onLine(line)));
        s.on('error', () => undefined); // 'close' follows; the agent notices the VM going away by its pid
        s.on('close', () => (this.sock = undefined));
        return;
      } catch {
        if (stopped()) throw new BerthError('VM_FAILED', 'the VM stopped');
        if (Date.now() > deadline) throw new BerthError('TIMEOUT', `cannot connect to the guest channel ${this.path}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
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
    const deadline = Date.now() + timeoutMs;
    while (!this.sawReady) {
      if (stopped()) throw new BerthError('VM_FAILED', 'the VM stopped while booting');
      if (Date.now() > deadline) {
        throw new BerthError('TIMEOUT', `the guest did not report ready within ${timeoutMs / 1000} s`, {
          hint: 'see "berth logs" for the guest console',
        });
      }
      this.send('ping');
      await this.waitLine((l) => /^(ready|pong)\b/.test(l), 1000);
    }
  }

  /**
   * Sets the guest clock to the host's; false if the guest did not confirm in time. Resent until answered:
   * right after a resume the guest end may still be noticing that a new host end connected.
   */
  async setTime(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      this.send(`time ${(Date.now() / 1000).toFixed(3)}`);
      const r = await this.waitLine((l) => l.endsWith(' time'), 250);
      if (r) return r === 'ok time';
    }
    return false;
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

  /** Holds these shared directories open in the guest, so that watchers and touches share their inodes. */
  pin(guestDirs: string[]): void {
    for (const p of guestDirs) this.send(`pin ${escapePath(p)}`);
  }

  unpin(guestDirs: string[]): void {
    for (const p of guestDirs) this.send(`unpin ${escapePath(p)}`);
  }

  /** The qemu-user architectures registered in the guest; undefined if the guest did not answer. */
  async binfmt(timeoutMs = 5000): Promise<string[] | undefined> {
    this.send('binfmt');
    const r = await this.waitLine((l) => l === 'binfmt' || l.startsWith('binfmt '), timeoutMs);
    return r === undefined ? undefined : r.slice(6).split(/\s+/).filter(Boolean);
  }

  private async request(cmd: 'unmount' | 'mount', timeoutMs: number): Promise<string | undefined> {
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
