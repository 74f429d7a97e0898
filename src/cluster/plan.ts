import { randomInt } from 'node:crypto';
import type { ClusterNodeConfig } from '../config/schema.js';
import { NAME_RE } from '../store/paths.js';
import { BerthError } from '../util/errors.js';

/** Most nodes one cluster has: a laptop's limit, far below Swarm's. */
export const MAX_NODES = 9;
/** The node addresses: .11, .12, … of the cluster's /24. */
const FIRST_HOST = 11;
/** The segment's ports: below every common ephemeral range (Linux: 32768–60999; macOS, Windows: 49152–). */
const PORTS: [number, number] = [20000, 29999];

export interface CreateRequest {
  name: string;
  nodes: number;
  managers: number;
}

/** The instance name of node `i` (1-based) of a cluster. */
export function nodeName(cluster: string, i: number): string {
  return `${cluster}-${i}`;
}

/** Node index from an instance name of the cluster, or undefined. */
export function nodeIndex(cluster: string, instance: string): number | undefined {
  const m = instance.startsWith(`${cluster}-`) ? /^(\d+)$/.exec(instance.slice(cluster.length + 1)) : null;
  return m ? Number(m[1]) : undefined;
}

function usage(message: string, hint: string): BerthError {
  return new BerthError('USAGE', message, { hint });
}

/**
 * Checks a create request against the rules and what exists (instances, other clusters), before anything is
 * made. Swarm's Raft needs an odd number of managers to keep a majority when one is lost.
 */
export function checkCreate(
  req: CreateRequest,
  instances: readonly string[],
  clusters: readonly string[],
): void {
  const longest = nodeName(req.name, MAX_NODES);
  if (!NAME_RE.test(req.name) || !NAME_RE.test(longest) || req.name.length > 20)
    throw usage(
      `invalid cluster name "${req.name}"`,
      'use 1-20 lowercase letters, digits and dashes, starting with a letter or digit (its nodes are NAME-1, NAME-2, …)',
    );
  if (!Number.isInteger(req.nodes) || req.nodes < 1 || req.nodes > MAX_NODES)
    throw usage(`--nodes ${req.nodes}: a cluster has 1 to ${MAX_NODES} nodes`, 'for example: --nodes 3');
  if (!Number.isInteger(req.managers) || req.managers < 1 || req.managers % 2 === 0)
    throw usage(
      `--managers ${req.managers}: the number of managers must be odd (1, 3, 5 …)`,
      'Swarm keeps working while a majority of its managers runs: 3 managers survive the loss of 1; an even number adds no safety',
    );
  if (req.managers > req.nodes)
    throw usage(
      `--managers ${req.managers} is more than --nodes ${req.nodes}`,
      `give --nodes ${req.managers} or more, or fewer managers`,
    );
  if (clusters.includes(req.name))
    throw usage(
      `a cluster named "${req.name}" exists already`,
      `see "berth cluster status ${req.name}", or delete it first: berth cluster delete ${req.name}`,
    );
  const clash = instances.filter((i) => i === req.name || nodeIndex(req.name, i) !== undefined);
  if (clash.length)
    throw usage(
      `the name "${req.name}" clashes with the instance${clash.length > 1 ? 's' : ''} ${clash.map((c) => `"${c}"`).join(', ')}`,
      'a cluster takes the instance names NAME-1, NAME-2, … and the docker context berth-NAME: choose another name',
    );
}

/** The cluster's network: a multicast group and port on the host's loopback, and a /24 for its nodes. */
export interface Segment {
  segment: string;
  /** The third byte of 10.213.X.0/24. */
  subnet: number;
}

/** A new segment unlike the ones in use (`taken`: other clusters' nodes). */
export function newSegment(
  taken: readonly ClusterNodeConfig[],
  rnd: (max: number) => number = randomInt,
): Segment {
  const groups = new Set(taken.map((c) => c.segment.split(':')[0]));
  const ports = new Set(taken.map((c) => c.segment.split(':')[1]));
  const subnets = new Set(taken.map((c) => c.address.split('.')[2]));
  for (let tries = 0; tries < 1000; tries++) {
    const subnet = rnd(256);
    const group = `239.255.${rnd(256)}.${1 + rnd(254)}`;
    const port = PORTS[0] + rnd(PORTS[1] - PORTS[0] + 1);
    if (groups.has(group) || ports.has(String(port)) || subnets.has(String(subnet))) continue;
    return { segment: `${group}:${port}`, subnet };
  }
  throw new BerthError('INTERNAL', 'no free cluster segment found');
}

/** The cluster section of node `i`'s YAML. Node 1 serves the registry; the first `managers` nodes manage. */
export function nodeSection(cluster: string, seg: Segment, i: number, managers: number): ClusterNodeConfig {
  const host = FIRST_HOST + i - 1;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return {
    name: cluster,
    segment: seg.segment,
    address: `10.213.${seg.subnet}.${host}`,
    prefix: 24,
    mac: `52:54:00:d5:${hex(seg.subnet)}:${hex(host)}`,
    registry: `10.213.${seg.subnet}.${FIRST_HOST}`,
    serveRegistry: i === 1,
    role: i <= managers ? 'manager' : 'worker',
  };
}

/** The segment of an existing cluster, from one of its nodes' sections. */
export function segmentOf(c: ClusterNodeConfig): Segment {
  return { segment: c.segment, subnet: Number(c.address.split('.')[2]) };
}
