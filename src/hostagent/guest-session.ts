import fsp from 'node:fs/promises';
import { loginKey, publicKeyBlob } from '../guest/ssh-keys.js';
import { SshSession, type SshTarget } from '../guest/ssh-session.js';
import { instanceFile } from '../store/paths.js';
import { BerthError, errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { retryUntil, systemClock, type Clock } from '../util/retry.js';

/**
 * The agent's one SSH session to the guest (pinned host key), kept up: tried from the start of the boot (sshd
 * is up seconds before the engine), and reconnected whenever it drops until the agent stops.
 */
export class GuestSession {
  private session?: SshSession;
  private readonly watchers = new Set<(s: SshSession | undefined) => void>();

  constructor(
    private readonly target: SshTarget,
    private readonly log: Logger,
    private readonly stopped: () => boolean,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The SSH target of an instance: its forwarded SSH port, its user key, its pinned host key. */
  static async targetFor(name: string, sshPort: number): Promise<SshTarget> {
    const user = await loginKey(name);
    const hostKeyPub = await fsp.readFile(instanceFile(name, 'hostKeyPub'), 'utf8');
    return {
      host: '127.0.0.1',
      port: sshPort,
      user: 'root',
      privateKey: user.privateKey,
      hostKey: publicKeyBlob(hostKeyPub),
    };
  }

  get current(): SshSession | undefined {
    return this.session;
  }

  /** Called with each new session, and with undefined when one drops. */
  onChange(fn: (s: SshSession | undefined) => void): void {
    this.watchers.add(fn);
  }

  private set(s: SshSession | undefined): void {
    this.session = s;
    for (const w of this.watchers) w(s);
  }

  /** Connects, trying every 250 ms for up to timeoutMs; a refused key (PERMISSION) fails at once. */
  async connect(timeoutMs = 120000): Promise<void> {
    let lastErr: unknown;
    const s = await retryUntil(
      async () => {
        if (this.stopped()) throw new BerthError('VM_FAILED', 'the VM stopped');
        try {
          return await SshSession.connect(this.target, 15000);
        } catch (err) {
          if (err instanceof BerthError && err.code === 'PERMISSION') throw err;
          lastErr = err;
          return undefined;
        }
      },
      (s) => s !== undefined,
      {
        intervalMs: 250,
        timeoutMs,
        clock: this.clock,
        onTimeout: () => {
          throw new BerthError('TIMEOUT', `cannot reach the guest over SSH: ${errorMessage(lastErr)}`);
        },
      },
    );
    this.set(s);
    this.log.info('guest session connected');
    s!.onClose(() => {
      this.set(undefined);
      if (this.stopped()) return;
      this.log.warn('guest session closed; reconnecting');
      void this.connect().catch((err) => this.log.error({ err }, 'reconnect failed'));
    });
  }

  /** Waits (bounded) for a session, then runs a command in the guest. */
  async exec(
    command: string,
    timeoutMs: number,
  ): Promise<{ code: number | null; stdout: string; stderr: string } | undefined> {
    const s = await retryUntil(async () => this.session, Boolean, {
      intervalMs: 50,
      timeoutMs: 30000,
      clock: this.clock,
    });
    return s?.exec(command, timeoutMs);
  }

  end(): void {
    this.session?.end();
  }
}
