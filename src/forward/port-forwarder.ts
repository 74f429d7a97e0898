import dgram from 'node:dgram';
import net from 'node:net';
import type { ForwardState, GuestListener, PortStatus } from '../agent-api/ports.js';
import type { AutoForward, PortForwardRule } from '../config/schema.js';
import type { GuestNetwork, HostForward, PortForwarding, VmControl } from '../driver/driver.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { hostEphemeralRange, hostUnprivilegedPortStart, inRange, type PortRange } from './host-ports.js';

/** How many guest ports berth forwards without a rule naming them. */
export const MAX_AUTO_FORWARDS = 256;

/** Parses berth-guestd's "ports tcp:8080:any udp:5353:lo" (the word "ports" already removed). */
export function parseListeners(text: string): GuestListener[] {
  const out: GuestListener[] = [];
  for (const item of text.trim().split(/\s+/)) {
    const m = /^(tcp|udp):(\d+):(any|lo)(?::([A-Za-z0-9_.-]{1,15}))?$/.exec(item);
    if (!m) continue;
    const port = Number(m[2]);
    if (port < 1 || port > 65535) continue;
    out.push({
      proto: m[1] as 'tcp' | 'udp',
      port,
      bind: m[3] as 'any' | 'lo',
      ...(m[4] ? { owner: m[4] } : {}),
    });
  }
  return out;
}

export type Plan =
  | { ignore: true; reason: string; rule?: number }
  | { ignore: false; hostIP: string; hostPort: number; rule?: number };

/** What to do with one guest listener: the first matching rule decides; by default the same port on 127.0.0.1. */
export function planForward(l: GuestListener, rules: PortForwardRule[]): Plan {
  if (l.proto === 'tcp' && l.port === 22)
    return { ignore: true, reason: "the guest's sshd (berth's own channel)" };
  for (const [i, r] of rules.entries()) {
    if (r.proto !== 'any' && r.proto !== l.proto) continue;
    const [first, last] = r.guestPortRange ?? [r.guestPort!, r.guestPort!];
    if (l.port < first || l.port > last) continue;
    if (r.ignore) return { ignore: true, reason: `ignored by portForwards[${i}]`, rule: i };
    const hostPort = r.hostPort ?? (r.hostPortRange ? r.hostPortRange[0] + (l.port - first) : l.port);
    return { ignore: false, hostIP: r.hostIP, hostPort, rule: i };
  }
  return { ignore: false, hostIP: '127.0.0.1', hostPort: l.port };
}

/** Why a listener no rule names is not forwarded by the `autoForward` mode; undefined when it is. */
export function autoForwardRefusal(
  l: GuestListener,
  mode: AutoForward,
  publishers: readonly string[],
): string | undefined {
  if (mode === 'none') return 'autoForward: none (name it in portForwards to forward it)';
  if (mode === 'published' && !(l.owner !== undefined && publishers.includes(l.owner)))
    return `not a port a container publishes (autoForward: published; listened on by ${l.owner ?? 'an unknown process'}): name it in portForwards to forward it`;
  return undefined;
}

function hostKey(f: Pick<HostForward, 'proto' | 'hostIP' | 'hostPort'>): string {
  return `${f.proto}:${f.hostIP}:${f.hostPort}`;
}

/** Tries the host port the way QEMU will bind it, to tell "in use" from "privileged" before asking QEMU. */
async function probeHostPort(
  proto: 'tcp' | 'udp',
  ip: string,
  port: number,
): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    if (proto === 'tcp') {
      const s = net.createServer();
      s.once('error', (e: NodeJS.ErrnoException) => resolve(e));
      s.listen({ host: ip, port, exclusive: true }, () => s.close(() => resolve(undefined)));
    } else {
      const s = dgram.createSocket('udp4');
      s.once('error', (e: NodeJS.ErrnoException) => {
        s.close();
        resolve(e);
      });
      s.bind(port, ip, () => s.close(() => resolve(undefined)));
    }
  });
}

export function probeProblem(
  e: NodeJS.ErrnoException,
  ip: string,
  port: number,
): { state: ForwardState; reason: string } {
  if (e.code === 'EADDRINUSE')
    return { state: 'conflict', reason: `host port ${ip}:${port} is in use by another program` };
  if (e.code === 'EACCES') {
    return {
      state: 'privileged',
      reason: `host port ${port} is privileged here: lower net.ipv4.ip_unprivileged_port_start, or map it to another port with a portForwards rule`,
    };
  }
  return { state: 'failed', reason: `cannot bind host ${ip}:${port}: ${e.message}` };
}

/** Conflicted forwards are retried this often while their guest port stays open. */
const RETRY_MS = 3000;

/**
 * Keeps the VM's host forwards equal to what the guest listens on (after the rules). Every change goes
 * through one queue; a conflict never stops the others.
 */
export class PortForwarder {
  private current = new Map<string, HostForward>();
  private statuses = new Map<string, PortStatus>();
  private listeners: GuestListener[] = [];
  private queue: Promise<void> = Promise.resolve();
  private retryTimer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    /** The VM's network: it forwards, and says where (the guest's address, the one rewritten to its 127.0.0.1). */
    private readonly driver: PortForwarding & { network: Pick<GuestNetwork, 'guest' | 'loopback'> },
    private readonly vm: VmControl,
    private readonly rules: PortForwardRule[],
    private readonly log: Logger,
    private readonly notice: (message: string) => void,
    /**
     * Bounds on what the guest can make the host listen on without a rule: at most `maxAuto` forwards, none in
     * the host's ephemeral range (the host's own outgoing connections need those ports). `unprivilegedStart`:
     * set when berth runs as root, whose QEMU holds no capability and so cannot bind below it (the agent's probe,
     * made with root's powers, cannot tell).
     */
    private readonly limits: { maxAuto: number; ephemeral: PortRange; unprivilegedStart?: number } = {
      maxAuto: MAX_AUTO_FORWARDS,
      ephemeral: hostEphemeralRange(),
      ...(process.getuid?.() === 0 ? { unprivilegedStart: hostUnprivilegedPortStart() } : {}),
    },
    /**
     * Listeners no rule names: all forwarded, only those of the engine's `publishers` (published), or none.
     */
    private readonly auto: { mode: AutoForward; publishers: readonly string[] } = {
      mode: 'all',
      publishers: [],
    },
  ) {}
  private capNoticed = false;

  /** Learns the forwards the VM already has (after an agent restart); the SSH forward is not ours. */
  async init(sshPort: number): Promise<void> {
    const existing = await this.driver.listForwards(this.vm);
    for (const f of existing) {
      if (f.proto === 'tcp' && f.hostPort === sshPort && f.guestPort === 22) continue;
      this.current.set(hostKey(f), f);
    }
    this.retryTimer = setInterval(() => {
      if ([...this.statuses.values()].some((s) => s.state === 'conflict')) this.update(this.listeners);
    }, RETRY_MS);
    this.retryTimer.unref();
  }

  /** The guest's current listeners; applied in order, one reconcile at a time. */
  update(listeners: GuestListener[]): Promise<void> {
    this.listeners = listeners;
    this.queue = this.queue
      .then(() => this.reconcile(listeners))
      .catch((err) => this.log.error({ err }, 'port forwarding update failed'));
    return this.queue;
  }

  list(): PortStatus[] {
    return [...this.statuses.values()].sort(
      (a, b) => a.guestPort - b.guestPort || a.proto.localeCompare(b.proto),
    );
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearInterval(this.retryTimer);
  }

  private async reconcile(listeners: GuestListener[]): Promise<void> {
    if (this.closed) return;
    const statuses = new Map<string, PortStatus>();
    const desired = new Map<string, HostForward>();
    let autos = 0;
    let overCap = 0;
    // Lowest ports first: what a cap leaves out is the tail of a flood, not a dev server's port.
    for (const l of [...listeners].sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto))) {
      const key = `${l.proto}:${l.port}`;
      const plan = planForward(l, this.rules);
      const base = { proto: l.proto, guestPort: l.port, guestBind: l.bind, rule: plan.rule };
      if (plan.ignore) {
        statuses.set(key, { ...base, state: 'ignored', reason: plan.reason });
        continue;
      }
      if (plan.rule === undefined) {
        const notAuto = autoForwardRefusal(l, this.auto.mode, this.auto.publishers);
        if (notAuto) {
          statuses.set(key, { ...base, state: 'ignored', reason: notAuto });
          continue;
        }
        const { first, last } = this.limits.ephemeral;
        if (inRange(plan.hostPort, this.limits.ephemeral)) {
          statuses.set(key, {
            ...base,
            state: 'ignored',
            reason: `in the host's ephemeral port range (${first}-${last}): name it in portForwards to forward it`,
          });
          continue;
        }
        if (++autos > this.limits.maxAuto) {
          overCap++;
          statuses.set(key, {
            ...base,
            state: 'ignored',
            reason: `over the limit of ${this.limits.maxAuto} automatic forwards: name it in portForwards to forward it`,
          });
          continue;
        }
      }
      const f: HostForward = {
        proto: l.proto,
        hostIP: plan.hostIP,
        hostPort: plan.hostPort,
        guestIP: l.bind === 'any' ? this.driver.network.guest : this.driver.network.loopback,
        guestPort: l.port,
      };
      const hk = hostKey(f);
      const taken = desired.get(hk);
      if (taken) {
        statuses.set(key, {
          ...base,
          hostIP: f.hostIP,
          hostPort: f.hostPort,
          state: 'conflict',
          reason: `host port ${f.hostPort} is already forwarded to guest port ${taken.guestPort}`,
        });
        continue;
      }
      desired.set(hk, f);
      statuses.set(key, { ...base, hostIP: f.hostIP, hostPort: f.hostPort, state: 'forwarded' });
    }

    for (const [hk, f] of this.current) {
      const want = desired.get(hk);
      if (want && want.guestIP === f.guestIP && want.guestPort === f.guestPort) continue;
      try {
        await this.driver.removeForward(this.vm, f);
        this.log.info({ forward: f }, `forward removed: ${f.proto} ${f.hostIP}:${f.hostPort}`);
        this.current.delete(hk);
      } catch (err) {
        // Kept as current: the next update tries again (the VM may still hold the host port).
        this.log.warn({ err, forward: f }, 'removing a forward failed');
      }
    }

    for (const [hk, f] of desired) {
      if (this.current.has(hk)) continue;
      const key = `${f.proto}:${f.guestPort}`;
      const st = statuses.get(key)!;
      const e =
        this.limits.unprivilegedStart !== undefined && f.hostPort < this.limits.unprivilegedStart
          ? Object.assign(new Error('privileged port'), { code: 'EACCES' })
          : await probeHostPort(f.proto, f.hostIP, f.hostPort);
      if (e) {
        const p = probeProblem(e, f.hostIP, f.hostPort);
        statuses.set(key, { ...st, ...p });
        if (this.statuses.get(key)?.reason !== p.reason) {
          this.log.warn({ forward: f }, `guest port ${f.proto}/${f.guestPort} not forwarded: ${p.reason}`);
          this.notice(`guest port ${f.proto}/${f.guestPort} not forwarded: ${p.reason}`);
        }
        continue;
      }
      try {
        await this.driver.addForward(this.vm, f);
        this.current.set(hk, f);
        this.log.info(
          { forward: f },
          `forward added: ${f.proto} ${f.hostIP}:${f.hostPort} -> guest ${f.guestPort}`,
        );
      } catch (err) {
        const reason = `the VM could not bind host ${f.hostIP}:${f.hostPort}: ${errorMessage(err)}`;
        statuses.set(key, { ...st, state: 'conflict', reason });
        this.log.warn({ forward: f }, reason);
      }
    }
    this.statuses = statuses;
    if (overCap && !this.capNoticed) {
      this.capNoticed = true;
      this.notice(
        `the guest listens on ${overCap} more ports than the ${this.limits.maxAuto} berth forwards by itself: those are not forwarded ("berth ports" lists them)`,
      );
    }
  }
}
