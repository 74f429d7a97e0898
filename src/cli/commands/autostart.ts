import type { Command } from 'commander';
import { autostartStatus, disableAutostart, enableAutostart } from '../../instance/autostart.js';
import { requireInstance } from '../../store/instance-store.js';
import { info, json, result } from '../output.js';

export function registerAutostart(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  const cmd = program
    .command('autostart')
    .description(
      'start an instance at login: a systemd user unit where systemd runs, else an XDG autostart entry',
    );
  cmd
    .command('enable')
    .argument('[name]', 'instance name', 'default')
    .description('start the instance at every login')
    .action((name: string) =>
      run(async () => {
        await requireInstance(name);
        const { entry, note } = await enableAutostart(name);
        info(`wrote ${entry.file}`);
        result(note);
      }),
    );
  cmd
    .command('disable')
    .argument('[name]', 'instance name', 'default')
    .description('no longer start the instance at login')
    .action((name: string) =>
      run(async () => {
        const removed = await disableAutostart(name);
        result(
          removed.length
            ? removed.map((f) => `removed ${f}`).join('\n')
            : `instance "${name}" does not start at login`,
        );
      }),
    );
  cmd
    .command('status')
    .argument('[name]', 'instance name', 'default')
    .description('whether the instance starts at login, and how')
    .option('--json', 'machine-readable output')
    .action((name: string, o: { json?: boolean }) =>
      run(async () => {
        const st = await autostartStatus(name);
        if (o.json) return json(st);
        result(
          st.length
            ? st
                .map(
                  (s) =>
                    `${s.kind === 'systemd' ? 'systemd user unit' : 'XDG autostart'}: ${s.file}${s.current ? '' : ' (written for another BERTH_HOME or berth: "berth autostart enable" rewrites it)'}`,
                )
                .join('\n')
            : `instance "${name}" does not start at login ("berth autostart enable ${name}")`,
        );
        if (!st.length) process.exitCode = 1;
      }),
    );
}
