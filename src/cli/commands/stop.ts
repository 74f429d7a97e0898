import type { Command } from 'commander';
import { instanceRuntime, stopInstance } from '../../instance/lifecycle.js';
import { info, step } from '../output.js';

export async function runStop(name: string, force: boolean): Promise<void> {
  const t0 = Date.now();
  const host = (await instanceRuntime(name)).host;
  const r = await stopInstance(name, force, (e) => {
    if (e.type === 'progress' && e.step === 'stop') step(e.message);
    else if (e.type === 'notice') info(`notice: ${e.message}`);
  });
  if (r === 'already-stopped') {
    info(`instance "${name}" is not running`);
  } else {
    info(`instance "${name}" stopped (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  if ((await host.available()) && (await host.current()) === host.name(name)) {
    info(
      `notice: your current ${host.noun} "${host.name(name)}" points at this stopped instance;` +
        ` "berth start${name === 'default' ? '' : ` ${name}`}" brings it back, "${host.cli} context use default" switches away`,
    );
  }
}

export function registerStop(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  program
    .command('stop')
    .argument('[name]', 'instance name', 'default')
    .description('shut the guest down gracefully (disks flushed); forces it after a bounded wait')
    .option('-f, --force', 'stop at once, like pulling the plug')
    .action((name: string, o: { force?: boolean }) => run(() => runStop(name, Boolean(o.force))));
}
