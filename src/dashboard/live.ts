import fsp from 'node:fs/promises';
import Docker from 'dockerode';
import { agentPorts, agentStatus } from '../agent-api/client.js';
import type { PortStatus } from '../agent-api/ports.js';
import { loadInstanceConfig } from '../config/load.js';
import type { InstanceConfig } from '../config/schema.js';
import { resolveShares, type Share } from '../share/shares.js';
import { describeInstance, type InstanceView } from '../instance/lifecycle.js';
import { listInstances } from '../store/instance-store.js';
import { instanceFile } from '../store/paths.js';
import type { Logger } from '../util/logger.js';

/** One container as the dashboard lists it (from the engine's own list; CPU and memory from its stats). */
export interface ContainerRow {
  id: string;
  name: string;
  image: string;
  state: string;
  status: string;
  health?: string;
  project?: string;
  service?: string;
  ports: { hostPort: number; containerPort: number; proto: string; hostIP: string }[];
  cpuPercent?: number;
  memBytes?: number;
}

export interface ShareRow {
  location: string;
  mountPoint: string;
  writable: boolean;
  sync: boolean;
  /** 9p mount tag (berth0, …): how the guest's mount table names the share. */
  tag?: string;
  /** What the guest's mount table says, when asked (folderStates): mounted, not mounted, … */
  state?: string;
}

/** Pure: the berth.yaml's mounts as rows, resolved like the agent resolves them (a missing host folder is said). */
export function shareRows(mounts: InstanceConfig['mounts'], file: string): ShareRow[] {
  let resolved: Share[] | undefined;
  let problem: string | undefined;
  try {
    resolved = resolveShares({ mounts }, file);
  } catch (err) {
    problem = (err as Error).message;
  }
  return mounts.map((m, i) => {
    const r = resolved?.[i];
    return {
      location: r?.hostPath ?? m.location,
      mountPoint: r?.guestPath ?? m.mountPoint ?? m.location,
      writable: m.writable,
      sync: m.sync,
      ...(r ? { tag: r.tag } : { state: `not shared: ${problem ?? 'unresolved'}` }),
    };
  });
}

/** /proc/mounts escapes a space, tab, newline and backslash in octal. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Pure: each share's state from the guest's /proc/mounts (and whether berth-syncd said its copies match the
 * host's): a shared folder is 9p from its tag at its path; a synchronised one has its host side (9p) at
 * /run/berth/sync/<tag> and the guest's copy at its path.
 */
export function folderStates(rows: ShareRow[], procMounts: string, syncReady: boolean): ShareRow[] {
  const mounts = procMounts
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length >= 3)
    .map(([src, target, fstype]) => ({ src: src!, target: unescapeMount(target!), fstype: fstype! }));
  const at = (target: string) => mounts.filter((m) => m.target === target);
  return rows.map((r) => {
    if (!r.tag) return r;
    if (!r.sync) {
      const m = at(r.mountPoint).find((x) => x.fstype === '9p' && x.src === r.tag);
      return { ...r, state: m ? 'mounted' : 'not mounted in the guest' };
    }
    const host = at(`/run/berth/sync/${r.tag}`).some((x) => x.fstype === '9p' && x.src === r.tag);
    if (!host) return { ...r, state: 'not connected: the host folder is not mounted for berth-syncd' };
    return { ...r, state: syncReady ? 'in step with the host' : 'first copy under way' };
  });
}

/** The VM's own use of the host, sampled each refresh: QEMU's CPU (% of one core) and resident memory. */
export interface VmSample {
  t: number;
  cpuPercent: number;
  rssBytes: number;
  guestMemUsedBytes?: number;
  guestDiskUsedBytes?: number;
}

export interface InstanceSnapshot {
  view: InstanceView;
  startedAt?: string;
  containers?: ContainerRow[];
  ports?: PortStatus[];
  shares: ShareRow[];
  /** The engine did not answer (the instance is starting, or stopping). */
  engineError?: string;
  samples: VmSample[];
}

export interface Snapshot {
  instances: InstanceSnapshot[];
}

/** How often the server looks again while a browser watches (engine events also trigger a look at once). */
export const REFRESH_MS = 5000;
const SAMPLES_KEPT = 120; // 10 minutes at REFRESH_MS

/** Pure: CPU use in % of one core between two readings of a process's utime+stime (clock ticks). */
export function cpuPercent(prevTicks: number, ticks: number, elapsedMs: number, hz = 100): number {
  if (elapsedMs <= 0 || ticks < prevTicks) return 0;
  return Math.round(((ticks - prevTicks) / hz / (elapsedMs / 1000)) * 1000) / 10;
}

/** Pure: utime+stime (ticks) and RSS pages from the text of /proc/PID/stat. */
export function parseProcStat(text: string): { ticks: number; rssPages: number } | undefined {
  // The command name (field 2) may hold spaces and parentheses: fields are counted after its last ")".
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const rss = Number(rest[21]);
  if (![utime, stime, rss].every(Number.isFinite)) return undefined;
  return { ticks: utime + stime, rssPages: rss };
}

/** Pure: a container's CPU % (of one core) from two of the engine's stats readings. */
export function containerCpu(
  prev: { total: number; system: number } | undefined,
  cur: { total: number; system: number; cpus: number },
): number | undefined {
  if (!prev || cur.system <= prev.system || cur.total < prev.total) return undefined;
  return Math.round(((cur.total - prev.total) / (cur.system - prev.system)) * cur.cpus * 1000) / 10;
}

interface Docker_ContainerInfo {
  Id: string;
  Names: string[];
  Image: string;
  State: string;
  Status: string;
  Labels: Record<string, string>;
  Ports: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[];
}

/** Pure: the engine's container list entry → a dashboard row (health is in the status text: "(healthy)"). */
export function containerRow(c: Docker_ContainerInfo): ContainerRow {
  const health = /\((healthy|unhealthy|health: starting)\)/.exec(c.Status)?.[1];
  const seen = new Set<string>();
  const ports: ContainerRow['ports'] = [];
  for (const p of c.Ports) {
    if (!p.PublicPort) continue;
    const key = `${p.PublicPort}/${p.Type}`;
    if (seen.has(key)) continue; // the engine lists a port once per address family
    seen.add(key);
    ports.push({
      hostPort: p.PublicPort,
      containerPort: p.PrivatePort,
      proto: p.Type,
      hostIP: p.IP && p.IP !== '0.0.0.0' && p.IP !== '::' ? p.IP : '127.0.0.1',
    });
  }
  return {
    id: c.Id,
    name: (c.Names[0] ?? c.Id.slice(0, 12)).replace(/^\//, ''),
    image: c.Image,
    state: c.State,
    status: c.Status,
    ...(health ? { health } : {}),
    ...(c.Labels['com.docker.compose.project'] ? { project: c.Labels['com.docker.compose.project'] } : {}),
    ...(c.Labels['com.docker.compose.service'] ? { service: c.Labels['com.docker.compose.service'] } : {}),
    ports: ports.sort((a, b) => a.hostPort - b.hostPort),
  };
}

/** Every container of an engine, as rows (no CPU or memory yet). */
async function containerRows(engine: Docker): Promise<ContainerRow[]> {
  return ((await engine.listContainers({ all: true })) as unknown as Docker_ContainerInfo[]).map(
    containerRow,
  );
}

/**
 * The engine of an instance, over its host socket. `timeoutMs` is an idle timeout (docker-modem destroys a
 * request whose socket is quiet that long): a look gives up after 10 s, an action may take longer, and a
 * stream (events, logs, a terminal) is quiet for as long as it likes: 0, none.
 */
export function engineOf(name: string, timeoutMs = 10000): Docker {
  return new Docker({
    socketPath: instanceFile(name, 'dockerSock'),
    ...(timeoutMs > 0 ? { timeout: timeoutMs } : {}),
  });
}

/**
 * What every open dashboard shows, recomputed from berth's records, the agents and the engines each time:
 * nothing here is the truth, only the last look at it. It looks every REFRESH_MS while someone watches, and at
 * once when an engine reports an event; watchers get a snapshot only when it changed.
 */
export class LiveState {
  private watchers = new Set<(s: Snapshot) => void>();
  private timer?: NodeJS.Timeout;
  private last?: string;
  private running = false;
  private again = false;
  private samples = new Map<string, VmSample[]>();
  private procPrev = new Map<string, { pid: number; ticks: number; t: number }>();
  private statPrev = new Map<string, { total: number; system: number }>();
  private engineEvents = new Map<string, NodeJS.ReadableStream>();
  private quickAt = new Map<string, number>();
  current?: Snapshot;

  constructor(private readonly log: Logger) {}

  watch(fn: (s: Snapshot) => void): () => void {
    this.watchers.add(fn);
    if (this.current) fn(this.current);
    if (!this.timer) {
      this.timer = setInterval(() => this.refresh(), REFRESH_MS);
      this.refresh();
    }
    return () => {
      this.watchers.delete(fn);
      if (this.watchers.size === 0) this.quiet();
    };
  }

  /** Nobody watches: no timer, no engine event streams (an idle dashboard costs nothing). */
  private quiet(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const s of this.engineEvents.values()) (s as unknown as { destroy(): void }).destroy();
    this.engineEvents.clear();
  }

  close(): void {
    this.watchers.clear();
    this.quiet();
  }

  /** Looks again now (after an action); a look already under way is followed by one more. */
  refresh(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    const started = Date.now();
    void this.look()
      .then((snap) => {
        // A container list fetched after this look began (an engine event) is newer than the look's.
        for (const i of snap.instances) {
          if ((this.quickAt.get(i.view.name) ?? 0) <= started) continue;
          const newer = this.current?.instances.find((c) => c.view.name === i.view.name)?.containers;
          if (newer) i.containers = newer;
        }
        this.publish(snap);
      })
      .catch((err) => this.log.warn({ err }, 'dashboard refresh failed'))
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.refresh();
        }
      });
  }

  private publish(snap: Snapshot): void {
    this.current = snap;
    const text = JSON.stringify(snap);
    if (text === this.last) return;
    this.last = text;
    for (const w of this.watchers) w(snap);
  }

  /**
   * After an engine event: only that engine's container list, at once (one call; the CPU and memory figures
   * stay those of the last full look until the next), so a container started from the terminal shows within
   * a moment even when a full look of every instance is slow.
   */
  private async quickContainers(name: string): Promise<void> {
    const cur = this.current;
    const inst = cur?.instances.find((i) => i.view.name === name);
    if (!cur || !inst) return this.refresh();
    try {
      const old = new Map((inst.containers ?? []).map((c) => [c.id, c]));
      const rows = (await containerRows(engineOf(name))).map((r) => {
        const o = old.get(r.id);
        return o && r.state === 'running' && o.state === 'running'
          ? { ...r, cpuPercent: o.cpuPercent, memBytes: o.memBytes }
          : r;
      });
      this.quickAt.set(name, Date.now());
      const now = this.current ?? cur;
      this.publish({
        instances: now.instances.map((i) => (i.view.name === name ? { ...i, containers: rows } : i)),
      });
    } catch {
      // the engine went away: the full look says so
    }
    this.refresh();
  }

  private async look(): Promise<Snapshot> {
    const names = await listInstances();
    const instances = await Promise.all(names.map((n) => this.lookAt(n)));
    for (const n of this.engineEvents.keys())
      if (!instances.some((i) => i.view.name === n && i.view.status === 'Running')) this.dropEvents(n);
    return { instances };
  }

  private async lookAt(name: string): Promise<InstanceSnapshot> {
    const view = await describeInstance(name, { details: true }).catch(
      (err: Error): InstanceView =>
        ({
          name,
          status: 'Broken',
          error: err.message,
          arch: '?',
          cpus: 0,
          memory: 0,
          disk: 0,
          accel: '?',
          runs: '?',
          socket: '',
          dir: '',
          platforms: [],
        }) as InstanceView,
    );
    const cfg = await loadInstanceConfig(instanceFile(name, 'config')).catch(() => undefined);
    const shares = shareRows(cfg?.mounts ?? [], instanceFile(name, 'config'));
    const snap: InstanceSnapshot = { view, shares, samples: [] };
    if (!view.qemuPid || view.status !== 'Running') {
      this.samples.delete(name);
      this.procPrev.delete(name);
      return snap;
    }
    await this.sampleVm(name, view.qemuPid, view.guest);
    snap.samples = this.samples.get(name) ?? [];
    const agentSock = instanceFile(name, 'agentSock');
    const [st, ports] = await Promise.all([
      agentStatus(agentSock).catch(() => undefined),
      agentPorts(agentSock).catch(() => undefined),
    ]);
    snap.startedAt = st?.startedAt;
    if (ports) snap.ports = ports;
    try {
      snap.containers = await this.containers(name);
      this.followEngine(name);
    } catch (err) {
      snap.engineError = (err as Error).message;
    }
    return snap;
  }

  /** Reads QEMU's CPU and memory (after describeInstance: the pid is known) and appends a sample. */
  private async sampleVm(name: string, pid: number, guest?: InstanceView['guest']): Promise<void> {
    const text = await fsp.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    const st = text ? parseProcStat(text) : undefined;
    if (!st) return;
    const now = Date.now();
    const prev = this.procPrev.get(name);
    this.procPrev.set(name, { pid, ticks: st.ticks, t: now });
    if (!prev || prev.pid !== pid) return;
    const kept = this.samples.get(name) ?? [];
    kept.push({
      t: now,
      cpuPercent: cpuPercent(prev.ticks, st.ticks, now - prev.t),
      rssBytes: st.rssPages * 4096,
      ...(guest ? { guestMemUsedBytes: guest.memoryUsedBytes, guestDiskUsedBytes: guest.diskUsedBytes } : {}),
    });
    if (kept.length > SAMPLES_KEPT) kept.splice(0, kept.length - SAMPLES_KEPT);
    this.samples.set(name, kept);
  }

  private async containers(name: string): Promise<ContainerRow[]> {
    const engine = engineOf(name);
    const rows = await containerRows(engine);
    // CPU readings of containers that are gone are dropped (the map would grow with every container run).
    for (const key of this.statPrev.keys())
      if (key.startsWith(`${name}/`) && !rows.some((r) => key === `${name}/${r.id}`))
        this.statPrev.delete(key);
    // CPU and memory of the running ones: one reading each per look ("one-shot": no second sample waited
    // for); CPU from this reading against the last.
    await Promise.all(
      rows
        .filter((r) => r.state === 'running')
        .map(async (r) => {
          const s = (await engine
            .getContainer(r.id)
            .stats({ stream: false, 'one-shot': true } as { stream: false })
            .catch(() => undefined)) as
            | {
                cpu_stats?: {
                  cpu_usage?: { total_usage?: number };
                  system_cpu_usage?: number;
                  online_cpus?: number;
                };
                memory_stats?: { usage?: number; stats?: { inactive_file?: number } };
              }
            | undefined;
          if (!s) return;
          const cur = {
            total: s.cpu_stats?.cpu_usage?.total_usage ?? 0,
            system: s.cpu_stats?.system_cpu_usage ?? 0,
            cpus: s.cpu_stats?.online_cpus ?? 1,
          };
          const key = `${name}/${r.id}`;
          const cpu = containerCpu(this.statPrev.get(key), cur);
          this.statPrev.set(key, cur);
          if (cpu !== undefined) r.cpuPercent = cpu;
          const mem = s.memory_stats?.usage;
          if (mem !== undefined) r.memBytes = mem - (s.memory_stats?.stats?.inactive_file ?? 0);
        }),
    );
    return rows;
  }

  /** The engine's event stream: a container started from the host CLI shows at once, not at the next look. */
  private followEngine(name: string): void {
    // A look that ended after the last page closed does not start watching again.
    if (this.engineEvents.has(name) || this.watchers.size === 0) return;
    const placeholder = { destroy: () => undefined } as unknown as NodeJS.ReadableStream;
    this.engineEvents.set(name, placeholder);
    engineOf(name, 0)
      .getEvents({ filters: { type: ['container', 'image', 'volume', 'network'] } })
      .then((stream) => {
        if (this.engineEvents.get(name) !== placeholder) {
          (stream as unknown as { destroy(): void }).destroy();
          return;
        }
        this.engineEvents.set(name, stream);
        let pending: NodeJS.Timeout | undefined;
        stream.on('data', () => {
          // A burst (compose up) is one look.
          pending ??= setTimeout(() => {
            pending = undefined;
            void this.quickContainers(name);
          }, 100);
        });
        const gone = () => {
          if (this.engineEvents.get(name) === stream) this.engineEvents.delete(name);
        };
        stream.on('end', gone);
        stream.on('error', gone);
      })
      .catch(() => {
        if (this.engineEvents.get(name) === placeholder) this.engineEvents.delete(name);
      });
  }

  private dropEvents(name: string): void {
    const s = this.engineEvents.get(name);
    this.engineEvents.delete(name);
    (s as unknown as { destroy?: () => void } | undefined)?.destroy?.();
  }
}
