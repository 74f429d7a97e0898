import { Command, CommanderError } from 'commander';
import { BerthError, exitCodeFor } from '../util/errors.js';
import { registerAutostart } from './commands/autostart.js';
import { registerCli } from './commands/cli.js';
import { registerCluster } from './commands/cluster.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerDelete } from './commands/delete.js';
import { registerDoctor } from './commands/doctor.js';
import { registerEnv } from './commands/env.js';
import { registerImage } from './commands/image.js';
import { registerList } from './commands/list.js';
import { registerLogs } from './commands/logs.js';
import { registerPorts } from './commands/ports.js';
import { registerRestart } from './commands/restart.js';
import { registerSsh } from './commands/ssh.js';
import { registerStart } from './commands/start.js';
import { registerStatus } from './commands/status.js';
import { registerStop } from './commands/stop.js';
import { registerSuspend } from './commands/suspend.js';
import { printError } from './output.js';

const debug = process.argv.includes('--debug') || process.env.BERTH_DEBUG === '1';

/** Runs a command body; a returned number is the exit code (berth ssh), errors map to exit codes. */
async function run(fn: () => Promise<number | void>): Promise<void> {
  try {
    const code = await fn();
    if (typeof code === 'number') process.exitCode = code;
  } catch (err) {
    printError(err, debug);
    process.exitCode = exitCodeFor(err);
  }
}

const program = new Command('berth')
  .description(
    "A desktop container environment: Docker Engine in a small Linux VM, used from the host's docker CLI",
  )
  .version('0.1.0')
  .option('--debug', 'show stack traces and internal details')
  .showHelpAfterError('(run "berth --help" for usage)')
  .exitOverride();

registerStart(program, run);
registerStop(program, run);
registerSuspend(program, run);
registerRestart(program, run);
registerDelete(program, run);
registerList(program, run);
registerStatus(program, run);
registerEnv(program, run);
registerDoctor(program, run);
registerPorts(program, run);
registerSsh(program, run);
registerLogs(program, run);
registerImage(program, run);
registerCli(program, run);
registerAutostart(program, run);
registerDashboard(program, run);
registerCluster(program, run);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // commander already printed its message; map usage errors to EX_USAGE
    process.exitCode = err.exitCode === 0 ? 0 : new BerthError('USAGE', err.message).exitCode;
  } else {
    printError(err, debug);
    process.exitCode = exitCodeFor(err);
  }
}
