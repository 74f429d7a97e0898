import fsp from 'node:fs/promises';
import { acquireLock } from '../store/instance-store.js';
import { instanceFile } from '../store/paths.js';
import { fileLogger } from '../util/logger.js';
import { agentLogFd, HostAgent } from './host-agent.js';

/** Entry point of the detached host agent process: `node dist/hostagent/main.js NAME`. */
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
  const agent = new HostAgent(name, log, { cold: process.argv.includes('--cold') });
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
