import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidAlive, readPid } from '../store/instance-store.js';
import { instanceFile } from '../store/paths.js';
import { fileLogger } from '../util/logger.js';
import { runDaemon } from './daemon-entry.js';
import { agentLogFd } from './host-agent.js';
import { decideAgentExit } from './restart-policy.js';

/**
 * Entry point of the host agent's supervisor: `node dist/hostagent/supervisor.js NAME [--cold] [--upgrade]`, started
 * detached by `berth start`. It runs the agent (main.js) as its child and, when the agent dies while the VM
 * still runs (any signal, an uncaught error), starts a new one, which re-attaches: the engine socket, events,
 * port and file-event forwarding come back by themselves (restart-policy.ts decides). It needs no service
 * manager, so it works on every host.
 */
runDaemon('host agent supervisor', 'supervisorPid', async (name, args) => {
  const log = fileLogger(agentLogFd(name));
  const agentMain = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
  const restarts: number[] = [];
  let stopping = false;
  let child: ReturnType<typeof spawn> | undefined;

  const run = (args: string[]) => {
    const c = spawn(process.execPath, [agentMain, name, ...args], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, BERTH_SUPERVISOR_PID: String(process.pid) },
    });
    child = c;
    c.once('exit', (code, signal) => void onExit(code, signal));
  };

  const onExit = async (code: number | null, signal: NodeJS.Signals | null) => {
    child = undefined;
    const vmAlive = pidAlive(await readPid(instanceFile(name, 'qemuPid')));
    const d = decideAgentExit({ code, signal, vmAlive: vmAlive && !stopping, restarts, now: Date.now() });
    if (d.action === 'exit') {
      if (code !== 0) log.warn({ code, signal }, d.reason);
      await fsp.rm(instanceFile(name, 'supervisorPid'), { force: true });
      process.exit(d.code);
    }
    log.warn({ code, signal, delayMs: d.delayMs }, `${d.reason} while the VM runs: starting a new one`);
    restarts.push(Date.now());
    // A restart re-attaches: it never discards a saved state (no --cold); an upgrade cut short is finished by
    // any start (instance.json records it), so no --upgrade either.
    setTimeout(() => run([]), d.delayMs);
  };

  // A stop of the supervisor is a stop of the instance's agent (it stops the VM and exits 0).
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => {
      stopping = true;
      child?.kill(sig);
    });
  }
  process.on('SIGHUP', () => undefined); // the terminal going away must not stop it
  run(args);
});
