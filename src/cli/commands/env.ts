import type { Command } from 'commander';
import { describeInstance, instanceRuntime } from '../../instance/lifecycle.js';
import { shellQuote } from '../../util/shell-quote.js';
import { BerthError } from '../../util/errors.js';
import { info, json, result } from '../output.js';

const SHELLS = ['sh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

/** fish's single quotes take \\ and \' as escapes (POSIX sh's '\'' trick does not work there). */
function fishQuote(v: string): string {
  return /^[A-Za-z0-9_\-./=:,@%+]+$/.test(v) ? v : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Shell lines that set (or unset) the variables: POSIX sh (bash, zsh, dash) or fish. */
export function envLines(vars: Record<string, string | null>, shell: Shell): string {
  return Object.entries(vars)
    .map(([k, v]) => {
      if (shell === 'fish') return v === null ? `set -e ${k}` : `set -gx ${k} ${fishQuote(v)}`;
      return v === null ? `unset ${k}` : `export ${k}=${shellQuote(v)}`;
    })
    .join('\n');
}

export function registerEnv(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  program
    .command('env')
    .argument('[name]', 'instance name', 'default')
    .description(
      'print shell lines that point tools ignoring docker contexts at the instance: eval "$(berth env)"',
    )
    .option('--shell <shell>', `sh (bash, zsh) or fish`, 'sh')
    .option('--json', 'machine-readable output')
    .action((name: string, o: { shell: string; json?: boolean }) =>
      run(async () => {
        if (!(SHELLS as readonly string[]).includes(o.shell)) {
          throw new BerthError('USAGE', `--shell: "${o.shell}" is not one of ${SHELLS.join(', ')}`);
        }
        const v = await describeInstance(name);
        const rt = await instanceRuntime(name);
        const vars = rt.host.env(v.socket, rt.guest.engineSocket);
        if (v.status !== 'Running')
          info(
            `notice: instance "${name}" is ${v.status.toLowerCase()}: start it with "berth start${name === 'default' ? '' : ` ${name}`}"`,
          );
        if (o.json) return json(vars);
        result(envLines(vars, o.shell as Shell));
      }),
    );
}
