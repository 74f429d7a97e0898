import fsp from 'node:fs/promises';
import { driverFor } from '../driver/drivers.js';
import { runtimeFor } from '../runtime/runtimes.js';
import { acquireLock } from '../store/instance-store.js';
import { instanceFile } from '../store/paths.js';
import { fileLogger } from '../util/logger.js';
import { startApiServer } from './api-server.js';
import { EventLog } from './event-log.js';
import { GuestLink } from './guest-link.js';
import { agentLogFd, HostAgent } from './host-agent.js';
import { VmLauncher } from './vm-launcher.js';

/** Entry point of the detached host agent process: `node dist/hostagent/main.js NAME [--cold]`. */
let ownsPidFile = false;

async function main(): Promise<void> {
  const name = process.argv[2];
  if (!name) {
    process.stderr.write('usage: hostagent NAME\n');
    process.exit(64);
  }
  // Everything the agent and QEMU create (sockets, logs) is private to the user.
  process.umask(0o077);
  // One agent per instance: the pid file is the lock (a dead owner's lock is taken over).
  await acquireLock(instanceFile(name, 'agentPid'));
  ownsPidFile = true;
  const log = fileLogger(agentLogFd(name));
  log.info({ pid: process.pid }, 'host agent starting');
  const events = new EventLog(log);
  const driver = driverFor();
  const launcher = new VmLauncher(name, driver, events, log, { cold: process.argv.includes('--cold') });
  const agent = new HostAgent({
    name,
    log,
    events,
    driver,
    launch: () => launcher.launch(),
    link: (launch, stopping) =>
      new GuestLink(name, launch, driver, runtimeFor(launch.cfg.runtime), events, log, stopping),
    serveApi: (h) => startApiServer(instanceFile(name, 'agentSock'), h),
    exit: (code) => process.exit(code),
    shutdownTimeoutMs: Number(process.env.BERTH_SHUTDOWN_TIMEOUT_MS ?? 60 * 1000),
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => void agent.stop(false));
  }
  process.on('SIGHUP', () => undefined); // the terminal going away must not stop the agent
  await agent.run();
}

main().catch(async (err: unknown) => {
  process.stderr.write(`host agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  const name = process.argv[2];
  if (name && ownsPidFile)
    await fsp.rm(instanceFile(name, 'agentPid'), { force: true }).catch(() => undefined);
  process.exit(1);
});
