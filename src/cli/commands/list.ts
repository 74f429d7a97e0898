import type { Command } from 'commander';
import { describeInstance, type InstanceView } from '../../instance/lifecycle.js';
import { listInstances } from '../../store/instance-store.js';
import { formatSize } from '../../util/size.js';
import { json, result, table } from '../output.js';

export async function allInstances(): Promise<InstanceView[]> {
  const out: InstanceView[] = [];
  for (const n of await listInstances()) out.push(await describeInstance(n));
  return out;
}

export function registerList(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  program
    .command('list')
    .alias('ls')
    .description('list instances')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) =>
      run(async () => {
        const all = await allInstances();
        if (o.json) return json(all);
        if (all.length === 0) return result('no instances; create one with: berth start');
        result(
          table([
            ['NAME', 'STATUS', 'ARCH', 'CPUS', 'MEMORY', 'DISK', 'RUNS', 'SOCKET'],
            ...all.map((v) => [
              v.name,
              v.status,
              v.arch,
              String(v.cpus),
              formatSize(v.memory),
              formatSize(v.disk),
              v.runs,
              v.socket,
            ]),
          ]),
        );
      }),
    );
}
