import type { Command } from 'commander';
import { runStart } from './start.js';
import { runStop } from './stop.js';

export function registerRestart(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  program
    .command('restart')
    .argument('[name]', 'instance name', 'default')
    .description('stop and start an instance (applies configuration changes)')
    .option('--no-activate', "do not make the instance's docker context current")
    .action((name: string, o: { activate: boolean }) =>
      run(async () => {
        await runStop(name, false);
        await runStart(name, { activate: o.activate });
      }),
    );
}
