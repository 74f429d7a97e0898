/**
 * berth cluster: several instances as one Docker Swarm. A cluster is nothing but its nodes: instances whose
 * YAML has a `cluster:` section (written here), each with a second network card on the cluster's segment
 * (driver: a multicast group on the host's loopback). Swarm itself (dockerd's) does the rest: Raft among the
 * managers, scheduling, overlay networks, the routing mesh. Nothing here keeps state that could disagree with
 * the nodes' files or with Swarm.
 */
import Docker from 'dockerode';
import { loadInstanceConfig } from '../config/load.js';
import type { Arch, ClusterNodeConfig } from '../config/schema.js';
import { CLUSTER_REGISTRY } from '../guest/guest-config.js';
import { ensureBuiltImage } from '../image/cache.js';
import {
  deleteInstance,
  describeInstance,
  prepareInstance,
  startInstance,
  stopInstance,
  type InstanceStatus,
} from '../instance/lifecycle.js';
import { runtimeFor } from '../runtime/runtimes.js';
import { listInstances } from '../store/instance-store.js';
import { instanceFile } from '../store/paths.js';
import { BerthError, errorMessage } from '../util/errors.js';
import { retryUntil } from '../util/retry.js';
import {
  checkCreate,
  newSegment,
  nodeIndex,
  nodeName,
  nodeSection,
  segmentOf,
  type CreateRequest,
} from './plan.js';

/** Where a long operation says how it goes: `node` is the node it is about (undefined: the whole cluster). */
export type Progress = (node: string | undefined, message: string) => void;

export interface ClusterNode {
  name: string;
  index: number;
  section: ClusterNodeConfig;
}

const SWARM_PORT = 2377;
/** Where Swarm takes its overlay networks' /24s from (256 of them). */
export const OVERLAY_POOL = '10.100.0.0/16';
/** How long the nodes of a new or restarted cluster may take to be Ready in Swarm (after their VMs are). */
const READY_TIMEOUT_MS = 180_000;
/** Lists in a row (a second apart) in which every node must be Ready: see waitReady. */
const READY_STREAK = 3;

/** Every cluster by name, its nodes in index order (from the instances' YAML files). */
export async function allClusters(): Promise<Map<string, ClusterNode[]>> {
  const out = new Map<string, ClusterNode[]>();
  for (const name of await listInstances()) {
    let section: ClusterNodeConfig | undefined;
    try {
      section = (await loadInstanceConfig(instanceFile(name, 'config'))).cluster;
    } catch {
      continue; // an unreadable YAML is the instance's problem (berth status says so), not a cluster's
    }
    const index = section ? nodeIndex(section.name, name) : undefined;
    if (!section || index === undefined) continue;
    out.set(section.name, [...(out.get(section.name) ?? []), { name, index, section }]);
  }
  for (const nodes of out.values()) nodes.sort((a, b) => a.index - b.index);
  return out;
}

/** The nodes of one cluster; a clear error when there is no such cluster. */
export async function clusterNodes(cluster: string): Promise<ClusterNode[]> {
  const nodes = (await allClusters()).get(cluster);
  if (!nodes?.length)
    throw new BerthError('NOT_FOUND', `no cluster named "${cluster}"`, {
      hint: 'see "berth cluster list"; create one with: berth cluster create NAME --nodes 3',
    });
  return nodes;
}

function engine(node: string, timeoutMs = 30_000): Docker {
  return new Docker({ socketPath: instanceFile(node, 'dockerSock'), timeout: timeoutMs });
}

/**
 * Whether the node's engine is in a swarm: `active`, or `pending`/`error` while a restarted one reconnects to
 * its managers (it is still a member: it must not init or join again). Only `inactive` is not.
 */
async function inSwarm(node: string): Promise<boolean> {
  const info = (await engine(node).info()) as { Swarm?: { LocalNodeState?: string } };
  return (info.Swarm?.LocalNodeState ?? 'inactive') !== 'inactive';
}

/** Starts the nodes side by side; one failed start fails the whole with every node's reason. */
async function startNodes(nodes: readonly string[], progress: Progress): Promise<void> {
  const results = await Promise.allSettled(
    nodes.map((n) =>
      startInstance(n, (e) => {
        if (e.type === 'progress') progress(n, e.message);
        else if (e.type === 'notice') progress(n, `notice: ${e.message}`);
      }),
    ),
  );
  const failed = results.flatMap((r, i) =>
    r.status === 'rejected' ? [`${nodes[i]}: ${errorMessage(r.reason)}`] : [],
  );
  if (failed.length)
    throw new BerthError('VM_FAILED', `${failed.length} of ${nodes.length} nodes did not start`, {
      details: failed.join('\n'),
      hint: `see "berth logs NODE"; "berth cluster start" tries again`,
    });
}

/**
 * A manager whose engine answers and whose Swarm has a leader reachable: the one to ask, with the node list it
 * answered (the proof that it can answer, and what most callers want).
 */
async function reachableManager(
  nodes: readonly ClusterNode[],
): Promise<{ node: ClusterNode; list: SwarmNode[] }> {
  const managers = nodes.filter((n) => n.section.role === 'manager');
  for (const n of [...managers, ...nodes.filter((x) => x.section.role !== 'manager')]) {
    try {
      const info = (await engine(n.name, 5000).info()) as { Swarm?: { ControlAvailable?: boolean } };
      if (info.Swarm?.ControlAvailable)
        return { node: n, list: (await engine(n.name, 5000).listNodes()) as SwarmNode[] };
    } catch {
      // not running, or no quorum through it: the next one
    }
  }
  throw new BerthError('VM_FAILED', 'no manager of the cluster answers', {
    hint: 'start the cluster (berth cluster start NAME); with 3 managers, 2 must run',
  });
}

/** Swarm init on node 1 (once), then every other node joins it: managers first, one at a time (Raft). */
async function formSwarm(nodes: readonly ClusterNode[], progress: Progress): Promise<void> {
  const first = nodes[0]!;
  const addr = first.section.address;
  if (!(await inSwarm(first.name))) {
    progress(first.name, 'initialising the swarm');
    await engine(first.name).swarmInit({
      ListenAddr: `${addr}:${SWARM_PORT}`,
      AdvertiseAddr: addr,
      DataPathAddr: addr,
      // Overlay networks (the ingress first) out of Swarm's default 10.0.0.0/8, which holds the nodes' own
      // user network (10.0.2.0/24) and the cluster's segment (10.213.X.0/24).
      DefaultAddrPool: [OVERLAY_POOL],
      SubnetSize: 24,
    });
  }
  const joining: ClusterNode[] = [];
  for (const n of nodes.slice(1)) if (!(await inSwarm(n.name))) joining.push(n);
  // A restarted swarm needs no join (each dockerd rejoins from its state), nor a leader yet: it may still be
  // electing one.
  if (!joining.length) return;
  const mgr = (await reachableManager(nodes)).node;
  // The join tokens go from one engine's socket to another's through this process: never to a file.
  const tokens = (
    (await engine(mgr.name).swarmInspect()) as { JoinTokens: { Manager: string; Worker: string } }
  ).JoinTokens;
  const order = joining.sort(
    (a, b) => Number(b.section.role === 'manager') - Number(a.section.role === 'manager'),
  );
  for (const n of order) {
    progress(n.name, `joining the swarm as a ${n.section.role}`);
    await engine(n.name, 120_000).swarmJoin({
      ListenAddr: `${n.section.address}:${SWARM_PORT}`,
      AdvertiseAddr: n.section.address,
      DataPathAddr: n.section.address,
      RemoteAddrs: [`${mgr.section.address}:${SWARM_PORT}`],
      JoinToken: n.section.role === 'manager' ? tokens.Manager : tokens.Worker,
    });
  }
}

interface SwarmNode {
  ID: string;
  Version: { Index: number };
  Spec: { Role?: string; Availability?: string; Labels?: Record<string, string> };
  Description?: { Hostname?: string };
  Status?: { State?: string; Addr?: string };
  ManagerStatus?: { Leader?: boolean; Reachability?: string };
}

/** Swarm's node list by berth node name. */
function byBerthName(nodes: readonly ClusterNode[], list: readonly SwarmNode[]): Map<string, SwarmNode> {
  const byAddr = new Map(nodes.map((n) => [n.section.address, n.name]));
  const out = new Map<string, SwarmNode>();
  // A node that left and joined again is listed twice (the old entry down): the ready one wins.
  for (const s of list) {
    const name = byAddr.get(s.Status?.Addr ?? '') ?? s.Description?.Hostname?.replace(/^berth-/, '');
    if (!name) continue;
    const had = out.get(name);
    if (!had || (had.Status?.State !== 'ready' && s.Status?.State === 'ready')) out.set(name, s);
  }
  return out;
}

/**
 * All nodes Ready in the swarm, in three lists in a row a second apart. One list is not enough: right after
 * `cluster start` brought back a manager killed with -9, a list showed every node ready and the next one, a
 * moment later, that node "unknown" (swarmkit marks a node unknown while its session with the dispatcher is
 * made again, and every node when a new leader takes over), so a start returned with a node not yet usable.
 */
async function waitReady(nodes: readonly ClusterNode[], progress: Progress): Promise<void> {
  progress(undefined, `waiting for ${nodes.length} nodes to be Ready in the swarm`);
  let streak = 0;
  await retryUntil(
    async () => {
      let ready = 0;
      try {
        const s = byBerthName(nodes, (await reachableManager(nodes)).list);
        ready = nodes.filter((n) => s.get(n.name)?.Status?.State === 'ready').length;
      } catch {
        // no manager answers yet
      }
      streak = ready === nodes.length ? streak + 1 : 0;
      return ready;
    },
    () => streak >= READY_STREAK,
    {
      intervalMs: 1000,
      timeoutMs: READY_TIMEOUT_MS,
      onTimeout: (ready) => {
        throw new BerthError('TIMEOUT', `only ${ready} of ${nodes.length} nodes became Ready in the swarm`, {
          hint: `see "berth cluster status ${nodes[0]!.section.name}" and "docker --context berth-${nodes[0]!.section.name} node ls"`,
        });
      },
    },
  );
}

/** The cluster's docker context (berth-NAME) at its first node's engine; not made current. */
async function ensureClusterContext(
  cluster: string,
  nodes: readonly ClusterNode[],
): Promise<string | undefined> {
  const host = runtimeFor('docker').host;
  if (!(await host.available())) return undefined;
  return host.ensure(cluster, instanceFile(nodes[0]!.name, 'dockerSock'), false);
}

export interface CreateOptions extends CreateRequest {
  cpus?: number;
  memory?: string;
}

/** Creates the nodes, starts them, forms the swarm and makes the context; returns the context's name. */
export async function createCluster(o: CreateOptions, progress: Progress): Promise<string | undefined> {
  const clusters = await allClusters();
  checkCreate(o, await listInstances(), [...clusters.keys()]);
  const seg = newSegment([...clusters.values()].flat().map((n) => n.section));
  const nodes: ClusterNode[] = [];
  let arch: Arch | undefined;
  for (let i = 1; i <= o.nodes; i++) {
    const section = nodeSection(o.name, seg, i, o.managers);
    const name = nodeName(o.name, i);
    ({
      config: { arch },
    } = await prepareInstance(name, {
      cpus: o.cpus,
      memory: o.memory,
      // Only node 1 forwards the guest's ports to the host (the registry, the routing mesh's published ports):
      // the same port on every node would race for the host's.
      sections: { cluster: section, ...(i === 1 ? {} : { autoForward: 'none' as const }) },
    }));
    nodes.push({ name, index: i, section });
  }
  // The guest image once, before the nodes boot side by side (each would otherwise build its own).
  await ensureBuiltImage(arch!, runtimeFor('docker').guest, (m) => progress(undefined, m));
  progress(
    undefined,
    `created ${o.nodes} nodes (${nodes.map((n) => n.name).join(', ')}) on segment ${seg.segment}`,
  );
  await startNodes(
    nodes.map((n) => n.name),
    progress,
  );
  await formSwarm(nodes, progress);
  await waitReady(nodes, progress);
  return ensureClusterContext(o.name, nodes);
}

/** Starts every node that is not running; Swarm comes back by itself with its services. */
export async function startCluster(cluster: string, progress: Progress): Promise<string | undefined> {
  const nodes = await clusterNodes(cluster);
  await startNodes(
    nodes.map((n) => n.name),
    progress,
  );
  await formSwarm(nodes, progress); // a node made but never joined (a create cut short) joins now
  await waitReady(nodes, progress);
  return ensureClusterContext(cluster, nodes);
}

/** Stops every node (workers first, then the managers together: Raft keeps its quorum until the end). */
export async function stopCluster(cluster: string, progress: Progress): Promise<void> {
  const nodes = await clusterNodes(cluster);
  const stop = (list: ClusterNode[]) =>
    Promise.all(
      list.map(async (n) => {
        const r = await stopInstance(n.name, false);
        progress(n.name, r === 'stopped' ? 'stopped' : 'was not running');
      }),
    );
  await stop(nodes.filter((n) => n.section.role !== 'manager'));
  await stop(nodes.filter((n) => n.section.role === 'manager'));
}

/** Deletes every node (VMs, disks, files) and the cluster's context. */
export async function deleteCluster(cluster: string, progress: Progress): Promise<void> {
  const nodes = await clusterNodes(cluster);
  const host = runtimeFor('docker').host;
  await Promise.all(
    nodes.map(async (n) => {
      await deleteInstance(n.name, true);
      if (await host.available()) await host.remove(n.name);
      progress(n.name, 'deleted');
    }),
  );
  if (await host.available()) {
    const c = await host.remove(cluster);
    if (c.removed) progress(undefined, `removed the docker context ${host.name(cluster)}`);
  }
}

/** Adds a node (a worker, or a manager) and joins it to the running swarm. */
export async function addNode(
  cluster: string,
  o: { manager?: boolean; cpus?: number; memory?: string },
  progress: Progress,
): Promise<string> {
  const nodes = await clusterNodes(cluster);
  const index = Math.max(...nodes.map((n) => n.index)) + 1;
  const name = nodeName(cluster, index);
  if (index > 9)
    throw new BerthError('USAGE', `cluster "${cluster}" has the most nodes berth makes (9)`, {
      hint: `remove one first: berth cluster remove-node ${cluster} NODE`,
    });
  if ((await listInstances()).includes(name))
    throw new BerthError('USAGE', `an instance named "${name}" exists already`, {
      hint: `delete or rename it first (berth delete ${name})`,
    });
  await reachableManager(nodes); // the swarm must be there to join
  const section = nodeSection(cluster, segmentOf(nodes[0]!.section), index, o.manager ? index : 0);
  await prepareInstance(name, {
    cpus: o.cpus,
    memory: o.memory,
    sections: { cluster: section, autoForward: 'none' },
  });
  const node = { name, index, section };
  await startNodes([name], progress);
  await formSwarm([nodes[0]!, ...nodes.slice(1), node], progress);
  await waitReady([...nodes, node], progress);
  return name;
}

/** Drains a node (Swarm moves its tasks), takes it out of the swarm and deletes its instance. */
export async function removeNode(cluster: string, node: string, progress: Progress): Promise<void> {
  const nodes = await clusterNodes(cluster);
  const n = nodes.find((x) => x.name === node);
  if (!n)
    throw new BerthError('NOT_FOUND', `"${node}" is not a node of cluster "${cluster}"`, {
      hint: `its nodes: ${nodes.map((x) => x.name).join(', ')}`,
    });
  if (n.index === 1)
    throw new BerthError(
      'USAGE',
      `${node} is the cluster's first node: it runs the registry and the context points at it`,
      {
        hint: `remove another node, or delete the cluster: berth cluster delete ${cluster}`,
      },
    );
  const rest = nodes.filter((x) => x !== n);
  const { node: mgr, list } = await reachableManager(rest);
  const docker = engine(mgr.name);
  const swarm = byBerthName(nodes, list).get(node);
  if (swarm) {
    progress(node, 'draining: Swarm moves its tasks to the other nodes');
    // A manager is demoted in the same update (it leaves Raft before it leaves the swarm).
    await docker.getNode(swarm.ID).update({
      version: swarm.Version.Index,
      ...swarm.Spec,
      ...(swarm.Spec.Role === 'manager' ? { Role: 'worker' } : {}),
      Availability: 'drain',
    });
    await retryUntil(
      async () =>
        (
          (await docker.listTasks({
            filters: { node: [swarm.ID], 'desired-state': ['running'] },
          })) as unknown[]
        ).length,
      (left) => left === 0,
      { intervalMs: 1000, timeoutMs: 120_000 },
    );
    await engine(node)
      .swarmLeave({ force: true })
      .catch(() => undefined); // stopped node: Swarm forgets it below anyway
    await docker.getNode(swarm.ID).remove({ force: true });
  }
  await deleteInstance(node, true);
  await runtimeFor('docker')
    .host.remove(node)
    .catch(() => undefined);
  progress(node, 'removed');
}

export interface NodeView {
  name: string;
  /** The instance's status (Running, Stopped, …). */
  status: InstanceStatus;
  address: string;
  /** Swarm's view; absent when no manager answers or the node never joined. */
  role?: string;
  availability?: string;
  state?: string;
  leader?: boolean;
  reachability?: string;
  /** The services this node runs tasks of (running ones). */
  runs: string[];
}

export interface ClusterView {
  name: string;
  segment: string;
  context: string;
  /** registry.berth.internal:5000, as images in it are named. */
  registry: string;
  managers: number;
  nodes: NodeView[];
  /** Why Swarm's view is missing, when it is. */
  swarmError?: string;
}

/** What `berth cluster status` shows: each node's instance and Swarm's view of it. */
export async function describeCluster(cluster: string): Promise<ClusterView> {
  const nodes = await clusterNodes(cluster);
  const views: NodeView[] = [];
  for (const n of nodes) {
    views.push({
      name: n.name,
      status: (await describeInstance(n.name)).status,
      address: n.section.address,
      runs: [],
    });
  }
  let swarmError: string | undefined;
  try {
    const { node: mgr, list } = await reachableManager(nodes);
    const docker = engine(mgr.name, 10_000);
    const swarm = byBerthName(nodes, list);
    const services = new Map(
      ((await docker.listServices()) as { ID: string; Spec: { Name: string } }[]).map((s) => [
        s.ID,
        s.Spec.Name,
      ]),
    );
    const tasks = (await docker.listTasks({ filters: { 'desired-state': ['running'] } })) as {
      NodeID: string;
      ServiceID: string;
      Status?: { State?: string };
    }[];
    for (const v of views) {
      const s = swarm.get(v.name);
      if (!s) continue;
      v.role = s.Spec.Role;
      v.availability = s.Spec.Availability;
      v.state = s.Status?.State;
      v.leader = s.ManagerStatus?.Leader ?? false;
      v.reachability = s.ManagerStatus?.Reachability;
      v.runs = [
        ...new Set(
          tasks
            .filter((t) => t.NodeID === s.ID && t.Status?.State === 'running')
            .map((t) => services.get(t.ServiceID) ?? t.ServiceID),
        ),
      ].sort();
    }
  } catch (err) {
    swarmError = errorMessage(err);
  }
  return {
    name: cluster,
    segment: nodes[0]!.section.segment,
    context: runtimeFor('docker').host.name(cluster),
    registry: `${CLUSTER_REGISTRY.name}:${CLUSTER_REGISTRY.port}`,
    managers: nodes.filter((n) => n.section.role === 'manager').length,
    nodes: views,
    ...(swarmError ? { swarmError } : {}),
  };
}
