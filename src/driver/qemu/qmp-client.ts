import net from 'node:net';
import { EventEmitter } from 'node:events';
import { BerthError } from '../../util/errors.js';
import { lineSplitter } from '../../util/lines.js';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/**
 * A minimal QMP client (QEMU Machine Protocol: JSON lines over a unix socket).
 * Connect performs the greeting + qmp_capabilities handshake. Events are re-emitted as 'event'.
 */
export class QmpClient extends EventEmitter {
  private sock?: net.Socket;
  private nextId = 1;
  private pending = new Map<string, Pending>();
  private greeted?: () => void;

  static async connect(path: string, timeoutMs = 5000): Promise<QmpClient> {
    const c = new QmpClient();
    await c.open(path, timeoutMs);
    return c;
  }

  private open(path: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.sock?.destroy();
        reject(new BerthError('TIMEOUT', `QMP at ${path} did not greet within ${timeoutMs} ms`));
      }, timeoutMs);
      const sock = net.createConnection(path);
      this.sock = sock;
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => this.onData(d));
      sock.on('error', (err) => {
        clearTimeout(timer);
        this.failAll(err);
        reject(err);
      });
      sock.on('close', () => {
        this.failAll(new Error('QMP connection closed'));
        this.emit('close');
      });
      this.greeted = () => {
        this.execute('qmp_capabilities')
          .then(() => {
            clearTimeout(timer);
            resolve();
          })
          .catch((err: Error) => {
            clearTimeout(timer);
            reject(err);
          });
      };
    });
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private readonly onData = lineSplitter((line) => {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // QMP only sends JSON; a garbled line is ignored rather than killing the client
    }
    if ('QMP' in msg) {
      this.greeted?.();
      this.greeted = undefined;
    } else if ('event' in msg) {
      this.emit('event', msg);
    } else if ('id' in msg) {
      const p = this.pending.get(String(msg.id));
      if (!p) return;
      this.pending.delete(String(msg.id));
      if ('error' in msg) {
        const e = msg.error as { class?: string; desc?: string };
        p.reject(new Error(`QMP error ${e.class ?? ''}: ${e.desc ?? ''}`));
      } else p.resolve(msg.return);
    }
  });

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    const id = String(this.nextId++);
    return new Promise<T>((resolve, reject) => {
      if (!this.sock || this.sock.destroyed) return reject(new Error('QMP not connected'));
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + '\n');
    });
  }

  close(): void {
    this.sock?.end();
    this.sock?.destroy();
  }
}
