import path from 'node:path';
import type { Command } from 'commander';
import {
  HOST_CLI_SUITE,
  hostCliStatus,
  installHostCli,
  showVersion,
  uninstallHostCli,
} from '../../runtime/docker/host-cli.js';
import { json, result, step, table } from '../output.js';

export function registerCli(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  const cli = program
    .command('cli')
    .description(
      `the docker CLI's compose and buildx plugins (and the docker CLI) on this host, from Debian ${HOST_CLI_SUITE}`,
    );
  cli
    .command('install')
    .description(
      'install docker compose and buildx into ~/.docker/cli-plugins where missing or older (never over newer ones); the docker CLI too when there is none',
    )
    .option('--docker-cli', 'also install the docker CLI (done anyway when there is no docker on PATH)')
    .option('--bin-dir <dir>', 'where the docker CLI goes (default ~/.local/bin)')
    .option('--json', 'machine-readable output')
    .action((o: { dockerCli?: boolean; binDir?: string; json?: boolean }) =>
      run(async () => {
        const t0 = Date.now();
        const results = await installHostCli({
          dockerCli: o.dockerCli,
          binDir: o.binDir && path.resolve(o.binDir),
          progress: (m) => step(m, Date.now() - t0),
        });
        if (o.json) json(results);
      }),
    );
  cli
    .command('uninstall')
    .description(
      'remove what "berth cli install" installed (only files unchanged since), putting back what it replaced',
    )
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) =>
      run(async () => {
        const results = await uninstallHostCli({ progress: (m) => step(m) });
        if (o.json) json(results);
      }),
    );
  cli
    .command('status')
    .description('show which compose, buildx and docker CLI the docker CLI finds, and which berth installed')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) =>
      run(async () => {
        const st = await hostCliStatus();
        if (o.json) return json(st);
        result(
          table([
            ['NAME', 'VERSION', 'BY', 'PATH'],
            ...st.map((s) => [
              s.name,
              s.path ? showVersion(s.version) : '-',
              s.path ? (s.berth ? 'berth' : 'other') : '-',
              s.path ?? 'missing: berth cli install',
            ]),
          ]),
        );
      }),
    );
}
