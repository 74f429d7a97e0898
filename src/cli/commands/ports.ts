import type { Command } from 'commander';
import { agentPorts, agentStatus } from '../../agent-api/client.js';
import { requireInstance } from '../../store/instance-store.js';
import { instanceFile } from '../../store/paths.js';
import { BerthError } from '../../util/errors.js';
import { json, result, table } from '../output.js';

export function registerPorts(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  program
    .command('ports')
    .argument('[name]', 'instance name', 'default')
    .description(
      'list the guest ports that are listening and where each is forwarded on the host (or why not)',
    )
    .option('--json', 'machine-readable output')
    .action((name: string, o: { json?: boolean }) =>
      run(async () => {
        await requireInstance(name);
        const sock = instanceFile(name, 'agentSock');
        const st = await agentStatus(sock);
        if (!st || st.phase !== 'ready') {
          throw new BerthError('CONFLICT', `instance "${name}" is not running`, {
            hint: `start it: berth start${name === 'default' ? '' : ` ${name}`}`,
          });
        }
        const ports = await agentPorts(sock);
        if (o.json) return json(ports);
        if (ports.length === 0) return result('no guest ports are listening');
        result(
          table([
            ['PROTO', 'GUEST', 'HOST', 'STATE', 'REASON'],
            ...ports.map((p) => [
              p.proto,
              `${p.guestBind === 'lo' ? '127.0.0.1' : '*'}:${p.guestPort}`,
              p.hostPort !== undefined ? `${p.hostIP}:${p.hostPort}` : '-',
              p.state,
              p.reason ?? '',
            ]),
          ]),
        );
      }),
    );
}
