import type { Command } from 'commander';
import { deleteInstance, instanceRuntime } from '../../instance/lifecycle.js';
import { disableAutostart } from '../../instance/autostart.js';
import { info } from '../output.js';

export function registerDelete(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  program
    .command('delete')
    .alias('rm')
    .argument('[name]', 'instance name', 'default')
    .description('delete an instance: its disk, configuration, logs and docker context')
    .option('-f, --force', 'stop it first if it is running')
    .action((name: string, o: { force?: boolean }) =>
      run(async () => {
        const host = (await instanceRuntime(name)).host;
        await deleteInstance(name, Boolean(o.force));
        if (await host.available()) {
          const c = await host.remove(name);
          if (c.wasCurrent)
            info(`notice: ${host.noun} "${host.name(name)}" was current; switched to "default"`);
        }
        for (const f of await disableAutostart(name, { onlyOurs: true }))
          info(`removed its autostart entry ${f}`);
        info(`instance "${name}" deleted`);
      }),
    );
}
