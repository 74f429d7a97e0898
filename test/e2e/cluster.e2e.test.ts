import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  berth,
  berthOk,
  docker,
  dockerOk,
  makeEnv,
  noStackTrace,
  writeConfig,
  type Env,
} from '../support/env.js';
import { createHelloService, helloContext, probePort, runningTasks } from '../support/cluster.js';
import { freePort, httpGet } from '../support/net.js';
import { pidFromFile, processesMatching } from '../support/proc.js';
import { waitFor } from '../support/wait.js';

// berth cluster: three small nodes as one Docker Swarm with three managers (Raft survives the loss of one),
// driven through the host's docker CLI and the cluster's context. One cluster for the whole file.
const C = 'swarm';
const CTX = `berth-${C}`;
const IMAGE = 'registry.berth.internal:5000/hello:1';
let e: Env;
let port: number;

const dc = (...args: string[]) => docker(e, ['--context', CTX, ...args]);
const dcOk = (...args: string[]) => dockerOk(e, ['--context', CTX, ...args]);
const seconds = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);

interface NodeJson {
  name: string;
  status: string;
  role?: string;
  state?: string;
  runs: string[];
}
const status = async () =>
  JSON.parse((await berthOk(e, ['cluster', 'status', C, '--json'])).stdout) as { nodes: NodeJson[] };

const taskNodes = (service: string) => runningTasks(e, CTX, service);

describe('berth cluster (Docker Swarm on three nodes)', () => {
  beforeAll(async () => {
    e = await makeEnv('cluster');
    port = await freePort();
  });

  afterAll(async () => {
    if (e && fs.existsSync(path.join(e.home, `${C}-1`))) await berth(e, ['cluster', 'delete', C]);
    if (e) await fsp.rm(e.root, { recursive: true, force: true });
  });

  it('bad input: exit 64 with a hint, nothing created', async () => {
    await writeConfig(e, 'taken-2', 'cpus: 1\n');
    for (const [args, msg] of [
      [['--nodes', '0'], /--nodes 0/],
      [['--managers', '2'], /must be odd/],
      [['--nodes', '2', '--managers', '3'], /more than --nodes/],
    ] as const) {
      const r = await berth(e, ['cluster', 'create', 'bad', ...args]);
      expect(r.code, r.stderr).toBe(64);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).toMatch(/hint: /);
      expect(noStackTrace(r.stderr)).toBe(true);
    }
    const clash = await berth(e, ['cluster', 'create', 'taken']);
    expect(clash.code).toBe(64);
    expect(clash.stderr).toMatch(/clashes with the instance "taken-2"/);
    expect((await fsp.readdir(e.home)).filter((d) => !d.startsWith('_'))).toEqual(['taken-2']);
    await fsp.rm(path.join(e.home, 'taken-2'), { recursive: true });
  });

  it('create: three nodes Ready in the swarm, a context, the registry', async () => {
    const t0 = Date.now();
    const r = await berthOk(e, [
      'cluster',
      'create',
      C,
      '--nodes',
      '3',
      '--managers',
      '3',
      '--cpus',
      '1',
      '--memory',
      '1GiB',
    ]);
    console.log(`cluster create (3 nodes, 3 managers): ${seconds(t0)} s`);
    expect(r.stdout.trim()).toBe(CTX);
    const nodes = (
      await dcOk('node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.ManagerStatus}}')
    ).stdout
      .split('\n')
      .sort();
    expect(nodes).toHaveLength(3);
    expect(
      nodes.every((l) => / Ready (Leader|Reachable)$/.test(l)),
      nodes.join('\n'),
    ).toBe(true);
    const st = await status();
    expect(st.nodes.map((n) => [n.name, n.status, n.role, n.state])).toEqual([
      [`${C}-1`, 'Running', 'manager', 'ready'],
      [`${C}-2`, 'Running', 'manager', 'ready'],
      [`${C}-3`, 'Running', 'manager', 'ready'],
    ]);
    // The registry answers on the host's loopback (node 1's forward) too.
    await waitFor(
      async () => (await httpGet(5000, '/v2/')) !== undefined,
      30000,
      'the registry on 127.0.0.1:5000',
    );
  });

  it('an image built from the host goes through the registry to a service with a task on every node; the routing mesh answers on 127.0.0.1', async () => {
    const ctx = await helloContext();
    await dcOk('build', '-q', '-t', IMAGE, ctx);
    await dcOk('push', '-q', IMAGE);
    const t0 = Date.now();
    await createHelloService(e, CTX, IMAGE, port);
    const on = await waitFor(
      async () => {
        const n = await taskNodes('hello');
        return n.length === 3 ? n : undefined;
      },
      180000,
      'three running tasks of hello',
    );
    console.log(`service deploy (3 replicas, image pulled from the cluster registry): ${seconds(t0)} s`);
    expect(new Set(on).size, `tasks on ${on.join(', ')}`).toBe(3);
    // Through the routing mesh, answers come from more than one task.
    const seen = new Set<string>();
    await waitFor(
      async () => {
        const body = await httpGet(port);
        if (body) seen.add(body.trim());
        return seen.size >= 2;
      },
      60000,
      'answers from two tasks through the published port',
    );
    const st = await status();
    expect(st.nodes.every((n) => n.runs.includes('hello'))).toBe(true);
  });

  it("docker stack deploy: a compose file's service on node 3, reached by name over its overlay network from node 1", async () => {
    const dir = await fsp.mkdtemp(path.join(e.root, 'stack-'));
    const compose = path.join(dir, 'compose.yml');
    await fsp.writeFile(
      compose,
      [
        'services:',
        '  api:',
        `    image: ${IMAGE}`,
        '    networks: [appnet]',
        '    deploy:',
        '      placement:',
        `        constraints: ["node.hostname==berth-${C}-3"]`,
        'networks:',
        '  appnet:',
        '    driver: overlay',
        '    attachable: true',
        '',
      ].join('\n'),
    );
    await dcOk('stack', 'deploy', '-c', compose, 'app');
    await waitFor(async () => (await taskNodes('app_api')).length === 1, 120000, 'the api task');
    // From a container on node 1 (the context's engine) to the api task on node 3, by name.
    const r = await waitFor(
      async () => {
        const out = await dc(
          'run',
          '--rm',
          '--network',
          'app_appnet',
          IMAGE,
          // No -T: Debian's static busybox wget crashes with it.
          'wget',
          '-qO-',
          'http://api/',
        );
        return out.code === 0 ? out : undefined;
      },
      60000,
      'api by name over the overlay',
    );
    expect(r.stdout.trim()).toMatch(/^[0-9a-f]{12}$/);
  });

  it('kill -9 of a node: Swarm reschedules its task, the port keeps answering, the managers keep quorum', async () => {
    const victim = `${C}-3`;
    const qemu = pidFromFile(path.join(e.home, victim, 'qemu.pid'))!;
    // The node's agent and supervisor go too (a host losing the node): berth cluster start brings it back.
    const agents = await processesMatching(`${victim}`);
    const t0 = Date.now();
    const probe = probePort(port);
    for (const pid of agents.filter((p) => p !== qemu && p !== process.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    process.kill(qemu, 'SIGKILL');
    await waitFor(
      async () =>
        (await dc('node', 'ls', '--format', '{{.Hostname}} {{.Status}}')).stdout.includes(
          `berth-${victim} Down`,
        ),
      120000,
      `${victim} Down in docker node ls`,
    );
    const down = seconds(t0);
    const moved = await waitFor(
      async () => {
        const n = await taskNodes('hello');
        return n.length === 3 && !n.includes(`berth-${victim}`) ? n : undefined;
      },
      120000,
      'hello back at 3 running tasks on the other nodes',
    );
    const rescheduled = seconds(t0);
    // Quorum: 2 of 3 managers answer through the context (Swarm still counts the lost node's task until the
    // node is back: its replicas read 4/3 meanwhile).
    expect((await dcOk('node', 'ls', '--format', '{{.Hostname}} {{.Status}}')).stdout).toContain(
      `berth-${victim} Down`,
    );
    expect((await dcOk('service', 'ls', '--format', '{{.Name}}')).stdout.split('\n').sort()).toEqual([
      'app_api',
      'hello',
    ]);
    await new Promise((r) => setTimeout(r, 3000));
    const p = await probe.stop();
    console.log(
      `failover: node Down after ${down} s, its task running elsewhere after ${rescheduled} s (${moved.join(', ')}); ` +
        `port probes every 100 ms: ${p.failed} failed of ${p.ok + p.failed}, the last failure ${p.lastFailureS.toFixed(1)} s after the kill`,
    );
  });

  it("stop (with the killed node still down) and start of the whole cluster: every node back, the killed one too; the services and the registry's images kept", async () => {
    // The node killed above is still down: stop stops the others and takes the dead one as it is.
    await berthOk(e, ['cluster', 'stop', C]);
    expect((await status()).nodes.map((n) => n.status)).toEqual(['Stopped', 'Stopped', 'Stopped']);
    const t0 = Date.now();
    await berthOk(e, ['cluster', 'start', C]);
    console.log(`cluster start after stop: ${seconds(t0)} s`);
    expect((await status()).nodes.map((n) => [n.name, n.status, n.state])).toEqual([
      [`${C}-1`, 'Running', 'ready'],
      [`${C}-2`, 'Running', 'ready'],
      [`${C}-3`, 'Running', 'ready'],
    ]);
    expect((await dcOk('service', 'ls', '--format', '{{.Name}}')).stdout.split('\n').sort()).toEqual([
      'app_api',
      'hello',
    ]);
    await waitFor(
      async () => (await taskNodes('hello')).length === 3,
      180000,
      'hello at 3 running tasks again',
    );
    expect(
      await waitFor(async () => httpGet(port), 60000, 'the published port after the restart'),
    ).toBeTruthy();
    const catalog = await waitFor(
      async () => httpGet(5000, '/v2/_catalog'),
      30000,
      'the registry after the restart',
    );
    expect(JSON.parse(catalog)).toEqual({ repositories: ['hello'] });
  });

  it('add-node joins a worker; remove-node drains it, takes it out of the swarm and deletes it', async () => {
    const added = (
      await berthOk(e, ['cluster', 'add-node', C, '--cpus', '1', '--memory', '1GiB'])
    ).stdout.trim();
    expect(added).toBe(`${C}-4`);
    const ls = async () =>
      (await dcOk('node', 'ls', '--format', '{{.Hostname}} {{.Status}}')).stdout.split('\n').sort();
    expect(await ls()).toContain(`berth-${C}-4 Ready`);
    expect((await status()).nodes.find((n) => n.name === added)).toMatchObject({
      role: 'worker',
      state: 'ready',
    });
    await berthOk(e, ['cluster', 'remove-node', C, added]);
    expect((await ls()).filter((l) => l.includes(`${C}-4`))).toEqual([]);
    expect(fs.existsSync(path.join(e.home, added))).toBe(false);
    const first = await berth(e, ['cluster', 'remove-node', C, `${C}-1`]);
    expect(first.code).toBe(64);
    expect(first.stderr).toMatch(/first node/);
  });

  it('delete leaves nothing behind: instances, contexts, processes', async () => {
    await berthOk(e, ['cluster', 'delete', C]);
    expect(fs.readdirSync(e.home).filter((d) => d.startsWith(`${C}-`))).toEqual([]);
    expect((await docker(e, ['context', 'ls', '--format', '{{.Name}}'])).stdout).not.toMatch(/berth-swarm/);
    expect(await processesMatching(path.join(e.home, `${C}-`))).toEqual([]);
    expect((await berthOk(e, ['cluster', 'list'])).stdout).toMatch(/no clusters/);
  });
});
