import type { Command } from 'commander';
import { suspendInstance } from '../../instance/lifecycle.js';
import { info, step } from '../output.js';

export function registerSuspend(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  program
    .command('suspend')
    .argument('[name]', 'instance name', 'default')
    .description(
      'save the running VM\'s state to disk and stop it; the next "berth start" resumes in seconds',
    )
    .action((name: string) =>
      run(async () => {
        const t0 = Date.now();
        const size = await suspendInstance(name, (e) => {
          if (e.type === 'progress' && e.step === 'suspend') step(e.message);
          else if (e.type === 'notice') info(`notice: ${e.message}`);
        });
        info(
          `instance "${name}" suspended (${(size / 1024 ** 2).toFixed(0)} MiB of state, ${((Date.now() - t0) / 1000).toFixed(1)} s); "berth start${name === 'default' ? '' : ` ${name}`}" resumes it, --cold discards it`,
        );
      }),
    );
}
