import { Client, type ClientChannel } from 'ssh2';
import type { Duplex } from 'node:stream';
import { BerthError } from '../util/errors.js';

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  privateKey: string;
  /** Expected host key blob: the connection fails unless the guest presents exactly this key. */
  hostKey: Buffer;
}

/**
 * One SSH connection to a guest, with a pinned host key. Carries exec sessions and
 * direct-streamlocal channels (the engine socket) multiplexed over one TCP connection.
 */
export class SshSession {
  private constructor(private readonly client: Client) {}

  static connect(t: SshTarget, timeoutMs = 10000): Promise<SshSession> {
    return new Promise((resolve, reject) => {
      const client = new Client();
      let hostKeyMismatch = false;
      let settled = false;
      client
        .once('ready', () => {
          settled = true;
          resolve(new SshSession(client));
        })
        // 'error' can fire more than once (and after 'ready'): a listener must always be there, or Node
        // treats it as unhandled and the agent dies. After 'ready', errors end in 'close', handled by onClose.
        .on('error', (err) => {
          client.end();
          if (settled) return;
          settled = true;
          if (hostKeyMismatch) {
            reject(
              new BerthError('PERMISSION', `the guest's SSH host key does not match the one pinned for it`, {
                hint: "something else answers on the instance's SSH port; stop it and restart the instance",
                cause: err,
              }),
            );
          } else reject(err);
        })
        .connect({
          host: t.host,
          port: t.port,
          username: t.user,
          privateKey: t.privateKey,
          readyTimeout: timeoutMs,
          keepaliveInterval: 5000,
          keepaliveCountMax: 3,
          hostVerifier: (key: Buffer) => {
            const ok = key.equals(t.hostKey);
            if (!ok) hostKeyMismatch = true;
            return ok;
          },
        });
    });
  }

  onClose(fn: () => void): void {
    this.client.once('close', fn);
  }

  /** Opens a stream to a unix socket inside the guest (OpenSSH direct-streamlocal). */
  openUnixStream(socketPath: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.openssh_forwardOutStreamLocal(socketPath, (err, ch) => (err ? reject(err) : resolve(ch)));
    });
  }

  /** Runs a command and collects its output and exit code. */
  exec(cmd: string, timeoutMs = 60000): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      this.client.exec(cmd, (err, ch) => {
        if (err) return reject(err);
        let stdout = '';
        let stderr = '';
        const timer = setTimeout(() => {
          ch.close();
          reject(new BerthError('TIMEOUT', `guest command timed out after ${timeoutMs} ms: ${cmd}`));
        }, timeoutMs);
        ch.on('data', (d: Buffer) => (stdout += d.toString()));
        ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        ch.on('close', (code: number | null) => {
          clearTimeout(timer);
          resolve({ code: code ?? -1, stdout, stderr });
        });
      });
    });
  }

  /** Wires a local duplex to a guest exec with optional pty (used by `berth ssh` over the agent). */
  execStream(
    cmd: string | undefined,
    pty: { rows: number; cols: number; term: string } | undefined,
  ): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      const cb = (err: Error | undefined, ch: ClientChannel) => (err ? reject(err) : resolve(ch));
      const ptyOpt = pty ? { rows: pty.rows, cols: pty.cols, term: pty.term } : undefined;
      if (cmd === undefined) this.client.shell(ptyOpt ?? false, cb);
      else this.client.exec(cmd, { pty: ptyOpt }, cb);
    });
  }

  end(): void {
    this.client.end();
  }
}

export type { Duplex };
