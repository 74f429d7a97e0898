import type { Command } from 'commander';
import {
  addNode,
  allClusters,
  createCluster,
  deleteCluster,
  describeCluster,
  removeNode,
  startCluster,
  stopCluster,
  type Progress,
} from '../../cluster/cluster.js';
import { BerthError } from '../../util/errors.js';
import { info, json, result, step, table } from '../output.js';

type Run = (fn: () => Promise<void>) => Promise<void>;

function count(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^-?\d+$/.test(v))
    throw new BerthError('USAGE', `${flag}: "${v}" is not a whole number`, {
      hint: `for example: ${flag} 3`,
    });
  return Number(v);
}

function progressFor(t0: number): Progress {
  return (node, message) => step(node ? `[${node}] ${message}` : message, Date.now() - t0);
}

function contextLines(name: string, ctx: string | undefined): void {
  if (!ctx) {
    info('notice: no docker CLI on PATH; no context was made (berth cli install --docker-cli)');
    return;
  }
  info(`use it with:  docker --context ${ctx} node ls`);
  info(
    `  images for its services: docker --context ${ctx} build -t registry.berth.internal:5000/APP . && docker --context ${ctx} push registry.berth.internal:5000/APP`,
  );
  info(`  status: berth cluster status ${name}`);
}

export function registerCluster(program: Command, run: Run): void {
  const cluster = program
    .command('cluster')
    .description(
      'several instances as one Docker Swarm (create, list, status, add-node, remove-node, stop, start, delete)',
    );

  cluster
    .command('create')
    .argument('<name>', 'cluster name: its nodes are NAME-1, NAME-2, …; its docker context berth-NAME')
    .description('create the nodes, start them, form a swarm and make the docker context berth-NAME')
    .option('--nodes <n>', 'how many nodes', '3')
    .option('--managers <n>', 'how many of them are Swarm managers (odd: 1 or 3 …)', '1')
    .option('--cpus <n>', 'CPUs per node')
    .option('--memory <size>', 'memory per node (e.g. 1GiB)')
    .action((name: string, o: { nodes?: string; managers?: string; cpus?: string; memory?: string }) =>
      run(async () => {
        const t0 = Date.now();
        const ctx = await createCluster(
          {
            name,
            nodes: count(o.nodes, '--nodes', 3),
            managers: count(o.managers, '--managers', 1),
            cpus: o.cpus === undefined ? undefined : count(o.cpus, '--cpus', 0),
            memory: o.memory,
          },
          progressFor(t0),
        );
        info(`cluster "${name}" is ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        contextLines(name, ctx);
        if (ctx) result(ctx);
      }),
    );

  cluster
    .command('list')
    .alias('ls')
    .description('list clusters')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) =>
      run(async () => {
        const all = await allClusters();
        if (o.json)
          return json(
            [...all].map(([name, nodes]) => ({
              name,
              nodes: nodes.map((n) => n.name),
              managers: nodes.filter((n) => n.section.role === 'manager').map((n) => n.name),
              segment: nodes[0]!.section.segment,
            })),
          );
        if (all.size === 0)
          return result('no clusters; create one with: berth cluster create NAME --nodes 3');
        result(
          table([
            ['NAME', 'NODES', 'MANAGERS', 'SEGMENT'],
            ...[...all].map(([name, nodes]) => [
              name,
              nodes.map((n) => n.name).join(','),
              String(nodes.filter((n) => n.section.role === 'manager').length),
              nodes[0]!.section.segment,
            ]),
          ]),
        );
      }),
    );

  cluster
    .command('status')
    .argument('<name>', 'cluster name')
    .description('each node: its instance, its role and state in Swarm, what it runs')
    .option('--json', 'machine-readable output')
    .action((name: string, o: { json?: boolean }) =>
      run(async () => {
        const v = await describeCluster(name);
        if (o.json) return json(v);
        result(
          table([
            ['NODE', 'INSTANCE', 'ADDRESS', 'ROLE', 'SWARM', 'AVAILABILITY', 'RUNS'],
            ...v.nodes.map((n) => [
              n.name,
              n.status,
              n.address,
              n.role ? `${n.role}${n.leader ? ' (leader)' : ''}` : '-',
              n.state ?? '-',
              n.availability ?? '-',
              n.runs.join(',') || '-',
            ]),
          ]),
        );
        info(`context: ${v.context}   registry: ${v.registry}   segment: ${v.segment}`);
        if (v.swarmError) info(`notice: Swarm did not answer: ${v.swarmError}`);
      }),
    );

  cluster
    .command('add-node')
    .argument('<name>', 'cluster name')
    .description('add a node (a worker unless --manager) and join it to the swarm')
    .option('--manager', 'join as a manager')
    .option('--cpus <n>', 'CPUs')
    .option('--memory <size>', 'memory (e.g. 1GiB)')
    .action((name: string, o: { manager?: boolean; cpus?: string; memory?: string }) =>
      run(async () => {
        const t0 = Date.now();
        const node = await addNode(
          name,
          {
            manager: o.manager,
            cpus: o.cpus === undefined ? undefined : count(o.cpus, '--cpus', 0),
            memory: o.memory,
          },
          progressFor(t0),
        );
        info(`node ${node} joined cluster "${name}"`);
        result(node);
      }),
    );

  cluster
    .command('remove-node')
    .argument('<name>', 'cluster name')
    .argument('<node>', 'the node (instance name, e.g. NAME-3)')
    .description('drain a node (Swarm moves its tasks), take it out of the swarm and delete it')
    .action((name: string, node: string) =>
      run(async () => {
        await removeNode(name, node, progressFor(Date.now()));
        info(`node ${node} removed from cluster "${name}"`);
      }),
    );

  cluster
    .command('stop')
    .argument('<name>', 'cluster name')
    .description('stop every node (the swarm, its services and the registry come back with start)')
    .action((name: string) =>
      run(async () => {
        await stopCluster(name, progressFor(Date.now()));
        info(`cluster "${name}" stopped`);
      }),
    );

  cluster
    .command('start')
    .argument('<name>', 'cluster name')
    .description('start every node that is not running; returns when all are Ready in the swarm')
    .action((name: string) =>
      run(async () => {
        const t0 = Date.now();
        const ctx = await startCluster(name, progressFor(t0));
        info(`cluster "${name}" is ready (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        contextLines(name, ctx);
      }),
    );

  cluster
    .command('delete')
    .alias('rm')
    .argument('<name>', 'cluster name')
    .description('delete every node (VMs, disks, files) and the docker context berth-NAME')
    .action((name: string) =>
      run(async () => {
        await deleteCluster(name, progressFor(Date.now()));
        info(`cluster "${name}" deleted`);
      }),
    );
}
