import { driverFor } from '../driver/drivers.js';
import { runtimeFor } from '../runtime/runtimes.js';
import { instanceFile } from '../store/paths.js';
import { fileLogger } from '../util/logger.js';
import { startApiServer } from './api-server.js';
import { runDaemon } from './daemon-entry.js';
import { EventLog } from './event-log.js';
import { GuestLink } from './guest-link.js';
import {
  agentLogFd,
  consoleLogMaxFromEnv,
  HostAgent,
  restartDelayFromEnv,
  usageIntervalFromEnv,
} from './host-agent.js';
import { VmLauncher } from './vm-launcher.js';

/** The host agent process: `node dist/hostagent/main.js NAME [--cold] [--upgrade]`, run by its supervisor (supervisor.ts). */
runDaemon('host agent', 'agentPid', async (name, args) => {
  const log = fileLogger(agentLogFd(name));
  log.info({ pid: process.pid }, 'host agent starting');
  const events = new EventLog(log);
  const driver = driverFor();
  const launcher = new VmLauncher(name, driver, events, log, {
    cold: args.includes('--cold'),
    upgrade: args.includes('--upgrade'),
  });
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
    usageIntervalMs: usageIntervalFromEnv(),
    restartDelayMs: restartDelayFromEnv(),
    consoleLogMax: consoleLogMaxFromEnv(),
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.on(sig, () => void agent.stop(false));
  }
  process.on('SIGHUP', () => undefined); // the terminal going away must not stop the agent
  await agent.run();
});
