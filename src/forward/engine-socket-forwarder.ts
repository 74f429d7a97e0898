import fsp from 'node:fs/promises';
import net from 'node:net';
import type { Logger } from '../util/logger.js';
import type { Duplex } from 'node:stream';

/** What carries the engine's connections to the guest (the agent's SSH session: direct-streamlocal). */
export interface GuestStreams {
  /** A stream to a unix socket inside the guest. */
  openUnixStream(socketPath: string): Promise<Duplex & { close(): void }>;
}

/**
 * Serves the guest's engine socket on a host unix socket (mode 0600). Each client connection becomes one
 * channel to the guest socket, so streaming and hijacked connections (attach, exec -it, build) pass through
 * untouched, with half-closes carried both ways.
 */
export class EngineSocketForwarder {
  private server?: net.Server;
  private session?: GuestStreams;
  private waiters: Array<(s: GuestStreams) => void> = [];
  private readonly sockets = new Set<net.Socket>();

  constructor(
    private readonly hostPath: string,
    private readonly log: Logger,
    /** The engine's socket in the guest (the runtime's). */
    private readonly guestPath: string,
  ) {}

  /** Attaches (or re-attaches after a reconnect) the SSH session that carries the channels. */
  setSession(s: GuestStreams | undefined): void {
    this.session = s;
    if (s) for (const w of this.waiters.splice(0)) w(s);
  }

  private sessionReady(timeoutMs: number): Promise<GuestStreams | undefined> {
    if (this.session) return Promise.resolve(this.session);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(undefined);
      }, timeoutMs);
      const done = (s: GuestStreams) => {
        clearTimeout(t);
        resolve(s);
      };
      this.waiters.push(done);
    });
  }

  async listen(): Promise<void> {
    await fsp.rm(this.hostPath, { force: true });
    // allowHalfOpen: a client that closes its write side (docker run without -i) still reads the output.
    const server = net.createServer({ allowHalfOpen: true }, (c) => void this.handle(c));
    this.server = server;
    const oldUmask = process.umask(0o177); // the socket is created 0600: no window where others can connect
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.hostPath, () => resolve());
      });
    } finally {
      process.umask(oldUmask);
    }
    await fsp.chmod(this.hostPath, 0o600);
  }

  private async handle(c: net.Socket): Promise<void> {
    this.sockets.add(c);
    c.on('close', () => this.sockets.delete(c));
    c.on('error', () => c.destroy());
    c.pause();
    const s = await this.sessionReady(15000);
    if (!s || c.destroyed) {
      this.log.warn('engine connection dropped: no guest session');
      c.destroy();
      return;
    }
    let ch;
    try {
      ch = await s.openUnixStream(this.guestPath);
    } catch (err) {
      this.log.warn({ err }, 'cannot open the guest engine socket');
      c.destroy();
      return;
    }
    ch.on('error', () => c.destroy());
    c.on('close', () => ch.close());
    // The guest closed: let queued bytes drain to the client, then close (end, not destroy).
    ch.on('close', () => c.end());
    c.pipe(ch);
    ch.pipe(c);
    c.resume();
  }

  async close(): Promise<void> {
    for (const c of this.sockets) c.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await fsp.rm(this.hostPath, { force: true });
  }
}
