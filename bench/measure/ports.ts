/**
 * Port forwarding, three data paths to the same guest servers: berth's forwards (added by the host agent at
 * run time), the baseline's static QEMU hostfwd rules, and an `ssh -L` tunnel into the baseline; and how
 * soon a new guest listener is reachable on the host through berth.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { BERTH_BIN } from '../../test/support/env.js';
import { freePort } from '../../test/support/net.js';
import { sshArgs, type BaselineVm } from '../baseline.js';
import { guestSh, NAME, type Bench } from '../context.js';
import type { PortFigures } from '../result.js';
import { median } from '../stats.js';
import {
  GUEST_PORTS,
  guestServersScript,
  listenToAccept,
  receiveThroughput,
  sendThroughput,
  shortConnections,
  waitEcho,
  waitPort,
  type ServerPorts,
} from './tcp.js';

/**
 * One more try after a reset connection: on these noisy machines a 512 MiB transfer through a tunnel is
 * occasionally reset (seen once through the baseline's ssh -L); a second failure ends the run.
 */
async function retried<T>(b: Bench, what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    b.log(`${what} failed (${(err as Error).message}); trying once more in 2 s`);
    await sleep(2000);
    return f();
  }
}

/** Throughput: median of `runs` transfers each way (one 512 MiB sample swings a lot on these machines). */
async function portFigures(b: Bench, ports: ServerPorts): Promise<PortFigures> {
  const ups: number[] = [];
  const downs: number[] = [];
  for (let i = 0; i < b.n.runs; i++) {
    ups.push(await retried(b, 'host → guest transfer', () => sendThroughput(ports.sink, b.n.xferBytes)));
    downs.push(
      await retried(b, 'guest → host transfer', () => receiveThroughput(ports.source, b.n.xferBytes)),
    );
  }
  const upMs = median(ups);
  const downMs = median(downs);
  const { p50, p99 } = await retried(b, 'short connections', () => shortConnections(ports.echo, b.n.conns));
  return { upMs, downMs, p50, p99 };
}

/** Host ports for the baseline's hostfwd rules to the guest servers (given to its QEMU at boot). */
export async function baselineForwards(): Promise<ServerPorts> {
  return { sink: await freePort(), source: await freePort(), echo: await freePort() };
}

/** The QEMU hostfwd pairs (host port, guest port) for those forwards. */
export function hostfwds(fwd: ServerPorts): Array<[number, number]> {
  return [
    [fwd.sink, GUEST_PORTS.sink],
    [fwd.source, GUEST_PORTS.source],
    [fwd.echo, GUEST_PORTS.echo],
  ];
}

/** The baseline's two paths: the static QEMU hostfwd rules it booted with, and `ssh -L`. */
export async function baselinePorts(
  b: Bench,
  vm: BaselineVm,
  fwd: ServerPorts,
): Promise<{ hostfwd: PortFigures; sshL: PortFigures }> {
  await execa('ssh', [...sshArgs(vm), 'root@127.0.0.1', guestServersScript(b.n.xferBytes)]);
  await waitEcho(fwd.echo, 30000);
  const hostfwd = await portFigures(b, fwd);
  const l = await baselineForwards();
  const tunnel = spawn(
    'ssh',
    [
      ...sshArgs(vm),
      '-N',
      '-o',
      'ExitOnForwardFailure=yes',
      '-L',
      `${l.sink}:127.0.0.1:${GUEST_PORTS.sink}`,
      '-L',
      `${l.source}:127.0.0.1:${GUEST_PORTS.source}`,
      '-L',
      `${l.echo}:127.0.0.1:${GUEST_PORTS.echo}`,
      'root@127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  try {
    await waitEcho(l.echo, 30000);
    return { hostfwd, sshL: await portFigures(b, l) };
  } finally {
    tunnel.kill();
  }
}

/**
 * berth's path: the guest servers' ports are forwarded automatically (same ports on the host). Then
 * `listenTrials` new guest listeners, each timed until its host port accepts. The servers keep running
 * (stopGuestServers ends them).
 */
export async function berthPorts(b: Bench): Promise<{ ports: PortFigures; listen: number[] }> {
  await guestSh(b, `cd / && ${guestServersScript(b.n.xferBytes)}`);
  for (const p of Object.values(GUEST_PORTS)) await waitPort(p, 30000);
  await waitEcho(GUEST_PORTS.echo, 30000);
  const ports = await portFigures(b, GUEST_PORTS);
  const listen: number[] = [];
  for (let i = 0; i < b.n.listenTrials; i++) {
    listen.push(await listenToAccept([process.execPath, BERTH_BIN, 'ssh', NAME, '--'], 7100 + i, b.e.env));
    await sleep(300);
  }
  return { ports, listen };
}

/** Ends the guest servers berthPorts started (they hold the shared home, their cwd: suspend needs it free). */
export async function stopGuestServers(b: Bench): Promise<void> {
  await guestSh(b, "pkill -f 'IO[:]:Socket' || true");
}
