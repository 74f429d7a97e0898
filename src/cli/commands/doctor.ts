import type { Command } from 'commander';
import { applyFixes, evaluate, gatherFacts, type Check } from '../../instance/doctor.js';
import { info, json, result } from '../output.js';

const MARK = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;

function render(checks: Check[]): string {
  return checks
    .map(
      (c) =>
        `${MARK[c.verdict]}  ${c.id.padEnd(12)} ${c.message}${c.verdict !== 'ok' && c.fix ? `\n      fix: ${c.fix}` : ''}`,
    )
    .join('\n');
}

export function registerDoctor(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  program
    .command('doctor')
    .argument('[name]', 'instance name', 'default')
    .description(
      'check the host, the instance and which engine socket your tools use; --fix repairs what is safe',
    )
    .option(
      '--fix',
      'remove stale pid files, locks and sockets; switch a context away from a stopped instance',
    )
    .option('--json', 'machine-readable output')
    .action((name: string, o: { fix?: boolean; json?: boolean }) =>
      run(async () => {
        let checks = evaluate(await gatherFacts(name));
        if (o.fix) {
          const done = await applyFixes(name, checks);
          for (const d of done) info(`fixed: ${d}`);
          if (done.length > 0) checks = evaluate(await gatherFacts(name));
        }
        if (o.json) json(checks);
        else result(render(checks));
        // Failures make the exit status 1; warnings do not.
        if (checks.some((c) => c.verdict === 'fail')) process.exitCode = 1;
      }),
    );
}
