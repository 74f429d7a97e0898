/** What the heal e2e and the soak bench share: a simulated host sleep, and the guest clock measured after it. */
import { execa } from 'execa';
import path from 'node:path';
import { BERTH_BIN, type Env } from './env.js';
import { pidFromFile } from './proc.js';

/**
 * Stops (SIGSTOP) every berth process of an instance and its QEMU for `ms`, as a sleeping laptop stops them,
 * then lets them go on (SIGCONT, also when the wait is cut short); resolves at the wake.
 */
export async function simulateHostSleep(e: Env, name: string, ms: number): Promise<void> {
  const pids = ['ha-supervisor.pid', 'ha.pid', 'qemu.pid'].map((f) =>
    pidFromFile(path.join(e.home, name, f)),
  );
  if (!pids.every(Boolean)) throw new Error(`instance ${name} is not running (a pid file is missing)`);
  for (const p of pids) process.kill(p!, 'SIGSTOP');
  try {
    await new Promise((r) => setTimeout(r, ms));
  } finally {
    for (const p of pids) process.kill(p!, 'SIGCONT');
  }
}

/**
 * How far the guest's clock is behind the host's (seconds; negative: ahead). The guest prints its time and the
 * host notes when the line arrives: the error is the line's trip from the guest (milliseconds), not the
 * seconds an ssh login takes.
 */
export async function guestClockBehind(e: Env, name: string): Promise<number> {
  const child = execa(process.execPath, [BERTH_BIN, 'ssh', name, '--', 'date', '+%s.%N'], {
    env: e.env,
    extendEnv: false,
  });
  const arrived = new Promise<number>((resolve) => child.stdout!.once('data', () => resolve(Date.now())));
  const r = await child;
  return ((await arrived) - Number(String(r.stdout).trim()) * 1000) / 1000;
}
