import { html, render } from 'htm/preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  ApiError,
  bytes,
  call,
  follow,
  inst,
  since,
  type ActionEvent,
  type ContainerRow,
  type InstanceSnapshot,
  type ShareRow,
  type Snapshot,
} from './api.js';
import { lineChart } from './charts.js';
import './style.css';
import { openTerminal } from './terminal.js';

type Tab = 'containers' | 'images' | 'volumes' | 'ports' | 'folders' | 'resources';
type Panel =
  { kind: 'logs'; c: ContainerRow } | { kind: 'exec'; c: ContainerRow } | { kind: 'shell' } | undefined;
interface Toast {
  id: number;
  ok: boolean;
  text: string;
  hint?: string;
}

let toastId = 0;
let pushToast: (t: Omit<Toast, 'id'>) => void = () => undefined;

/** Runs an action; its failure is shown as berth says it (message and hint). */
async function act(what: string, fn: () => Promise<unknown>, ok?: string): Promise<boolean> {
  try {
    await fn();
    if (ok) pushToast({ ok: true, text: ok });
    return true;
  } catch (err) {
    const e = err as ApiError;
    pushToast({ ok: false, text: `${what}: ${e.message}`, hint: e.hint });
    return false;
  }
}

/** A click that asks `question` first, then POSTs to `url` (as act: its failure shown), then runs `after`. */
function confirmThenPost(question: string, what: string, url: string, after: () => void, ok?: string) {
  return async () => {
    if (!confirm(question)) return;
    await act(what, () => call('POST', url), ok);
    after();
  };
}

function App() {
  const [snap, setSnap] = useState<Snapshot | undefined>();
  const [connected, setConnected] = useState(true);
  const [actions, setActions] = useState<Record<number, ActionEvent & { lines: string[]; done?: boolean }>>(
    {},
  );
  const [selected, setSelected] = useState<string | undefined>(() => location.hash.slice(1) || undefined);
  const [creating, setCreating] = useState(false);
  const [toasts, setToasts] = useState<Toast[]>([]);
  pushToast = (t) => {
    const id = ++toastId;
    setToasts((all) => [...all.slice(-3), { ...t, id }]);
    setTimeout(() => setToasts((all) => all.filter((x) => x.id !== id)), t.ok ? 4000 : 15000);
  };
  useEffect(
    () =>
      follow(
        setSnap,
        (a) =>
          setActions((all) => {
            const cur = all[a.id] ?? { ...a, lines: [] };
            return {
              ...all,
              [a.id]: {
                ...cur,
                lines: a.line ? [...cur.lines, a.line].slice(-30) : cur.lines,
                done: a.exitCode !== undefined || cur.done,
                exitCode: a.exitCode ?? cur.exitCode,
              },
            };
          }),
        setConnected,
      ),
    [],
  );
  const instances = snap?.instances ?? [];
  const current = instances.find((i) => i.view.name === selected) ?? instances[0];
  useEffect(() => {
    if (current) history.replaceState(null, '', `#${current.view.name}`);
  }, [current?.view.name]);
  return html`
    <header>
      <h1>berth</h1>
      <span class=${`conn ${connected ? 'up' : 'down'}`} role="status"
        >${connected ? 'live' : 'reconnecting…'}</span
      >
    </header>
    <div class="layout">
      <nav aria-label="Instances">
        <h2>Instances</h2>
        <ul class="instances">
          ${instances.map(
            (i) =>
              html`<li>
                <button
                  class=${`inst ${i === current ? 'sel' : ''}`}
                  aria-current=${i === current ? 'true' : undefined}
                  onClick=${() => setSelected(i.view.name)}
                >
                  <span class=${`dot ${i.view.status.toLowerCase()}`} aria-hidden="true"></span>
                  <span class="name">${i.view.name}</span>
                  <span class="st" data-testid=${`status-${i.view.name}`}>${i.view.status}</span>
                </button>
              </li>`,
          )}
        </ul>
        <button class="new" onClick=${() => setCreating(!creating)}>
          ${creating ? 'Cancel' : '+ New instance'}
        </button>
        ${creating && html`<${CreateForm} names=${instances.map((i) => i.view.name)} done=${(name: string) => (setCreating(false), setSelected(name))} />`}
      </nav>
      <main>
        ${
          !snap
            ? html`<p class="empty">Loading…</p>`
            : current
              ? html`<${InstancePanel}
                  key=${current.view.name}
                  i=${current}
                  actions=${Object.values(actions).filter((a) => a.instance === current.view.name)}
                />`
              : html`<div class="empty">
                  <p>No instance yet.</p>
                  <p>Run <code>berth start</code> in a terminal, or create one with <b>+ New instance</b>.</p>
                </div>`
        }
      </main>
    </div>
    <div class="toasts" role="status" aria-live="polite">
      ${toasts.map(
        (t) =>
          html`<div class=${`toast ${t.ok ? 'ok' : 'bad'}`}>
            <div>${t.text}</div>
            ${t.hint && html`<div class="hint">hint: ${t.hint}</div>`}
          </div>`,
      )}
    </div>
  `;
}

function CreateForm({ names, done }: { names: string[]; done: (name: string) => void }) {
  const [pending, setPending] = useState<string>();
  const [error, setError] = useState<ApiError | undefined>();
  // The form stays until the new instance shows in the list (its start's progress shows on its page) or the
  // start fails (its error shows here, as the CLI words it).
  useEffect(() => {
    if (pending && names.includes(pending)) done(pending);
  }, [pending, names.join(' ')]);
  const submit = async (e: Event) => {
    e.preventDefault();
    const f = new FormData(e.target as HTMLFormElement);
    const body = Object.fromEntries([...f.entries()].filter(([, v]) => v !== '')) as Record<string, string>;
    setPending(body.name);
    setError(undefined);
    try {
      await call('POST', '/api/instances', body);
      pushToast({ ok: true, text: `instance "${body.name}" started` });
    } catch (err) {
      setPending(undefined);
      setError(err as ApiError);
    }
  };
  const busy = pending !== undefined;
  return html`<form class="create" onSubmit=${submit} aria-label="New instance">
    <label>Name <input name="name" required placeholder="default" /></label>
    <label>CPUs <input name="cpus" inputmode="numeric" placeholder="2" /></label>
    <label>Memory <input name="memory" placeholder="2GiB" /></label>
    <label>Disk <input name="disk" placeholder="60GiB" /></label>
    <label
      >Arch
      <select name="arch">
        <option value="">host</option>
        <option>x86_64</option>
        <option>aarch64</option>
      </select></label
    >
    <button type="submit" disabled=${busy}>${busy ? 'Starting…' : 'Create and start'}</button>
    ${error && html`<p class="error" role="alert">${error.message}${error.hint && html`<br /><span class="hint">hint: ${error.hint}</span>`}</p>`}
  </form>`;
}

function InstancePanel({
  i,
  actions,
}: {
  i: InstanceSnapshot;
  actions: (ActionEvent & { lines: string[]; done?: boolean })[];
}) {
  const v = i.view;
  const [tab, setTab] = useState<Tab>('containers');
  const [panel, setPanel] = useState<Panel>();
  const running = v.status === 'Running';
  const instAction = (what: string) => async () => {
    if (what === 'delete' && !confirm(`Delete instance "${v.name}" with its disks, images and volumes?`))
      return;
    await act(`${what} ${v.name}`, () => call('POST', `${inst(v.name)}/${what}`), `${what}: done`);
  };
  const live = actions.filter((a) => !a.done).concat(actions.filter((a) => a.done).slice(-1));
  const tabs: Tab[] = ['containers', 'images', 'volumes', 'ports', 'folders', 'resources'];
  return html`
    <section class="summary" aria-label=${`Instance ${v.name}`}>
      <div class="title">
        <h2>${v.name}</h2>
        <span class=${`badge ${v.status.toLowerCase()}`}>${v.status}</span>
        <div class="buttons">
          ${!running && html`<button onClick=${instAction('start')}>Start</button>`}
          ${running && html`<button onClick=${instAction('stop')}>Stop</button>`}
          ${running && html`<button onClick=${instAction('suspend')}>Suspend</button>`}
          ${running && html`<button onClick=${instAction('restart')}>Restart</button>`}
          ${running && html`<button onClick=${() => setPanel({ kind: 'shell' })}>Terminal</button>`}
          <button class="danger" onClick=${instAction('delete')}>Delete</button>
        </div>
      </div>
      <dl class="facts">
        <div>
          <dt>Arch</dt>
          <dd>${v.arch}</dd>
        </div>
        <div>
          <dt>Runs</dt>
          <dd>${v.runs}</dd>
        </div>
        <div>
          <dt>CPUs</dt>
          <dd>${v.cpus}</dd>
        </div>
        <div>
          <dt>Memory</dt>
          <dd>${bytes(v.memory)}${v.guest ? ` (${bytes(v.guest.memoryUsedBytes)} used)` : ''}</dd>
        </div>
        <div>
          <dt>Disk</dt>
          <dd>
            ${v.guest ? `${bytes(v.guest.diskUsedBytes)} used of ${bytes(v.guest.diskBytes)}` : bytes(v.disk)}${v.host ? `; ${bytes(v.host.osDiskBytes + v.host.dataDiskBytes)} on the host` : ''}
          </dd>
        </div>
        <div>
          <dt>Up</dt>
          <dd>${running ? since(i.startedAt) : '–'}</dd>
        </div>
        <div>
          <dt>Image</dt>
          <dd>
            ${v.image ? `${v.image.id.slice(0, 24)} (${v.image.suite ?? ''}, ${v.image.ageDays} d)` : '–'}
          </dd>
        </div>
        <div>
          <dt>Engine</dt>
          <dd>
            ${
              v.image
                ? Object.entries(v.image.versions)
                    .map(([k, x]) => `${k} ${x}`)
                    .join(', ')
                : '–'
            }
          </dd>
        </div>
      </dl>
      ${v.error && html`<p class="error" role="alert">${v.error}</p>`}
      ${v.lastCrash && html`<p class="warn">last crash ${since(v.lastCrash.at)} ago: ${v.lastCrash.text}</p>`}
      ${v.guestDiskWarning && html`<p class="warn">${v.guestDiskWarning}</p>`}
      ${v.image?.warning && html`<p class="warn">${v.image.warning}</p>`}
      ${live.map(
        (a) =>
          html`<div class="progress" aria-live="polite">
            <div>
              <b>berth ${a.what}</b>
              ${a.done ? (a.exitCode === 0 ? '— done' : `— failed (exit ${a.exitCode})`) : '…'}
            </div>
            <pre>${a.lines.join('\n')}</pre>
          </div>`,
      )}
    </section>
    <div class="tabs" role="tablist">
      ${tabs.map(
        (t) =>
          html`<button
            role="tab"
            aria-selected=${tab === t}
            class=${tab === t ? 'sel' : ''}
            onClick=${() => setTab(t)}
          >
            ${t[0]!.toUpperCase() + t.slice(1)}${t === 'containers' && i.containers ? ` (${i.containers.length})` : ''}
          </button>`,
      )}
    </div>
    <section class="tab" role="tabpanel">
      ${
        !running && tab !== 'folders'
          ? html`<p class="empty">The instance is ${v.status.toLowerCase()}. Start it to see its ${tab}.</p>`
          : tab === 'containers'
            ? html`<${Containers} i=${i} open=${setPanel} />`
            : tab === 'images'
              ? html`<${Images} i=${i} />`
              : tab === 'volumes'
                ? html`<${Volumes} i=${i} />`
                : tab === 'ports'
                  ? html`<${Ports} i=${i} />`
                  : tab === 'folders'
                    ? html`<${Folders} i=${i} />`
                    : html`<${Resources} i=${i} />`
      }
    </section>
    ${panel && html`<${SidePanel} name=${v.name} panel=${panel} close=${() => setPanel(undefined)} />`}
  `;
}

function Containers({ i, open }: { i: InstanceSnapshot; open: (p: Panel) => void }) {
  if (i.engineError) return html`<p class="error">The engine did not answer: ${i.engineError}</p>`;
  const rows = i.containers ?? [];
  if (!rows.length)
    return html`<p class="empty">
      No containers. Try <code>docker run -d -p 8080:80 nginx</code> in a terminal.
    </p>`;
  const groups = new Map<string, ContainerRow[]>();
  for (const c of rows) groups.set(c.project ?? '', [...(groups.get(c.project ?? '') ?? []), c]);
  const cAct = (c: ContainerRow, what: string) => async () => {
    if (
      what === 'remove' &&
      !confirm(`Remove container "${c.name}"${c.state === 'running' ? ' (it is running)' : ''}?`)
    )
      return;
    await act(`${what} ${c.name}`, () => call('POST', `${inst(i.view.name)}/containers/${c.id}/${what}`));
  };
  return html`<table class="list">
    <thead>
      <tr>
        <th>Name</th>
        <th>Image</th>
        <th>State</th>
        <th>Ports</th>
        <th>CPU</th>
        <th>Memory</th>
        <th><span class="sr">Actions</span></th>
      </tr>
    </thead>
    ${[...groups.entries()].map(
      ([project, cs]) =>
        html`<tbody>
          ${
            project &&
            html`<tr class="group">
              <th colspan="7">compose: ${project}</th>
            </tr>`
          }
          ${cs.map(
            (c) =>
              html`<tr data-container=${c.name}>
                <td>${c.service ?? c.name}${c.service && html`<div class="sub">${c.name}</div>`}</td>
                <td class="mono">${c.image}</td>
                <td>
                  <span class=${`state ${c.state}`}>${c.state}</span
                  >${c.health && html` <span class=${`health ${c.health.replace(/[: ]/g, '-')}`}>${c.health}</span>`}
                  <div class="sub">${c.status}</div>
                </td>
                <td>
                  ${c.ports.map((p) => (p.proto === 'tcp' ? html`<a href=${`http://127.0.0.1:${p.hostPort}`} target="_blank" rel="noopener noreferrer">${p.hostPort}→${p.containerPort}</a> ` : html`<span>${p.hostPort}→${p.containerPort}/udp</span> `))}
                </td>
                <td>${c.cpuPercent !== undefined ? `${c.cpuPercent.toFixed(1)} %` : '–'}</td>
                <td>${bytes(c.memBytes)}</td>
                <td class="buttons">
                  <button onClick=${() => open({ kind: 'logs', c })}>Logs</button>
                  ${c.state === 'running' && html`<button onClick=${() => open({ kind: 'exec', c })}>Terminal</button>`}
                  ${
                    c.state === 'running'
                      ? html`<button onClick=${cAct(c, 'stop')}>Stop</button
                          ><button onClick=${cAct(c, 'restart')}>Restart</button>`
                      : html`<button onClick=${cAct(c, 'start')}>Start</button>`
                  }
                  <button class="danger" onClick=${cAct(c, 'remove')}>Remove</button>
                </td>
              </tr>`,
          )}
        </tbody>`,
    )}
  </table>`;
}

/** A list fetched from the engine when shown, and again when the instance's snapshot changes. */
function useFetched<T>(url: string, dep: unknown): [T[] | undefined, string | undefined, () => void] {
  const [data, setData] = useState<T[]>();
  const [err, setErr] = useState<string>();
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    call<T[]>('GET', url)
      .then((d) => live && (setData(d), setErr(undefined)))
      .catch((e: Error) => live && setErr(e.message));
    return () => {
      live = false;
    };
  }, [url, dep, n]);
  return [data, err, () => setN(n + 1)];
}

function Images({ i }: { i: InstanceSnapshot }) {
  const [images, err, again] = useFetched<{
    id: string;
    tags: string[];
    size: number;
    created: number;
    inUse: boolean;
  }>(`${inst(i.view.name)}/images`, i.containers?.length);
  if (err) return html`<p class="error">${err}</p>`;
  if (!images) return html`<p class="empty">Loading…</p>`;
  const prune = confirmThenPost(
    'Remove every image no container uses?',
    'prune images',
    `${inst(i.view.name)}/images/prune`,
    again,
    'images pruned',
  );
  return html`<div class="bar"><button onClick=${prune}>Prune unused</button></div>
    ${
      !images.length
        ? html`<p class="empty">No images. <code>docker pull</code> or <code>docker build</code> one.</p>`
        : html`<table class="list">
            <thead>
              <tr>
                <th>Image</th>
                <th>ID</th>
                <th>Size</th>
                <th>Created</th>
                <th>In use</th>
                <th><span class="sr">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              ${images.map(
                (m) =>
                  html`<tr>
                    <td class="mono">${m.tags.join(', ') || '<none>'}</td>
                    <td class="mono">${m.id.replace('sha256:', '').slice(0, 12)}</td>
                    <td>${bytes(m.size)}</td>
                    <td>${since(new Date(m.created * 1000).toISOString())} ago</td>
                    <td>${m.inUse ? 'yes' : 'no'}</td>
                    <td class="buttons">
                      <button
                        class="danger"
                        onClick=${confirmThenPost(
                          `Remove image ${m.tags[0] ?? m.id}?`,
                          'remove image',
                          `${inst(i.view.name)}/images/${encodeURIComponent(m.id)}/remove`,
                          again,
                        )}
                      >
                        Remove
                      </button>
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }`;
}

function Volumes({ i }: { i: InstanceSnapshot }) {
  const [vols, err, again] = useFetched<{ name: string; driver: string; size: number; inUse: boolean }>(
    `${inst(i.view.name)}/volumes`,
    i.containers?.length,
  );
  if (err) return html`<p class="error">${err}</p>`;
  if (!vols) return html`<p class="empty">Loading…</p>`;
  const prune = confirmThenPost(
    'Remove every volume no container uses? Their data is lost.',
    'prune volumes',
    `${inst(i.view.name)}/volumes/prune`,
    again,
    'volumes pruned',
  );
  return html`<div class="bar"><button onClick=${prune}>Prune unused</button></div>
    ${
      !vols.length
        ? html`<p class="empty">No volumes. <code>docker volume create</code> makes one.</p>`
        : html`<table class="list">
            <thead>
              <tr>
                <th>Volume</th>
                <th>Driver</th>
                <th>Size</th>
                <th>In use</th>
                <th><span class="sr">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              ${vols.map(
                (x) =>
                  html`<tr>
                    <td class="mono">${x.name}</td>
                    <td>${x.driver}</td>
                    <td>${bytes(x.size)}</td>
                    <td>${x.inUse ? 'yes' : 'no'}</td>
                    <td class="buttons">
                      <button
                        class="danger"
                        onClick=${confirmThenPost(
                          `Remove volume ${x.name} and its data?`,
                          'remove volume',
                          `${inst(i.view.name)}/volumes/${encodeURIComponent(x.name)}/remove`,
                          again,
                        )}
                      >
                        Remove
                      </button>
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }`;
}

function Ports({ i }: { i: InstanceSnapshot }) {
  const ports = i.ports ?? [];
  if (!ports.length)
    return html`<p class="empty">
      Nothing listens in the guest yet. Publish a port: <code>docker run -p 8080:80 …</code>
    </p>`;
  return html`<table class="list">
    <thead>
      <tr>
        <th>Guest port</th>
        <th>Host</th>
        <th>State</th>
        <th>Why</th>
      </tr>
    </thead>
    <tbody>
      ${ports.map(
        (p) =>
          html`<tr>
            <td>${p.guestPort}/${p.proto}${p.guestBind === 'lo' ? ' (guest loopback)' : ''}</td>
            <td>
              ${p.hostPort ? (p.proto === 'tcp' && p.state === 'forwarded' ? html`<a href=${`http://${p.hostIP ?? '127.0.0.1'}:${p.hostPort}`} target="_blank" rel="noopener noreferrer">${p.hostIP ?? '127.0.0.1'}:${p.hostPort}</a>` : `${p.hostIP ?? '127.0.0.1'}:${p.hostPort}`) : '–'}
            </td>
            <td><span class=${`state ${p.state}`}>${p.state}</span></td>
            <td>${p.reason ?? ''}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

function Folders({ i }: { i: InstanceSnapshot }) {
  const running = i.view.status === 'Running';
  // While it runs, the guest's own mount table says what is mounted (asked when this tab shows).
  const [live, err] = useFetched<ShareRow>(`${inst(i.view.name)}/shares`, running ? i.view.qemuPid : 'off');
  const rows = running && live ? live : i.shares;
  if (!rows.length)
    return html`<p class="empty">
      No folders are shared. Add <code>mounts:</code> to the instance's berth.yaml.
    </p>`;
  return html`${running && err && html`<p class="error">${err}</p>`}
    <table class="list">
      <thead>
        <tr>
          <th>Host folder</th>
          <th>In the guest</th>
          <th>Access</th>
          <th>How</th>
          <th>State</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (s) =>
            html`<tr data-share=${s.mountPoint}>
              <td class="mono">${s.location}</td>
              <td class="mono">${s.mountPoint}</td>
              <td>${s.writable ? 'read-write' : 'read-only'}</td>
              <td>${s.sync ? 'synchronised (a copy in the guest, kept in step)' : 'shared (9p)'}</td>
              <td>${s.state ?? (running ? 'asking the guest…' : 'the instance is not running')}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

function Resources({ i }: { i: InstanceSnapshot }) {
  const cpuEl = useRef<HTMLDivElement>(null);
  const memEl = useRef<HTMLDivElement>(null);
  const diskEl = useRef<HTMLDivElement>(null);
  const charts = useRef<ReturnType<typeof lineChart>[]>([]);
  // Container history, kept by this page (the server keeps the VM's).
  const history = useRef(new Map<string, { t: number; cpu?: number; mem?: number }[]>());
  useMemo(() => {
    const now = Date.now() / 1000;
    for (const c of i.containers ?? []) {
      if (c.state !== 'running') continue;
      const h = history.current.get(c.name) ?? [];
      h.push({ t: now, cpu: c.cpuPercent, mem: c.memBytes });
      history.current.set(c.name, h.slice(-150));
    }
  }, [i]);
  useEffect(() => {
    charts.current = [
      lineChart(
        cpuEl.current!,
        'VM CPU (% of one core)',
        [{ label: 'QEMU', color: '#3b82f6' }],
        (v) => `${v.toFixed(0)} %`,
      ),
      lineChart(
        memEl.current!,
        'VM memory',
        [
          { label: 'QEMU resident on the host', color: '#8b5cf6' },
          { label: 'used in the guest', color: '#10b981' },
        ],
        bytes,
      ),
      lineChart(diskEl.current!, 'Guest disk used', [{ label: 'engine data', color: '#f59e0b' }], bytes),
    ];
    return () => charts.current.forEach((c) => c.destroy());
  }, []);
  useEffect(() => {
    const s = i.samples;
    const t = s.map((x) => x.t / 1000);
    charts.current[0]?.set(t, [s.map((x) => x.cpuPercent)]);
    charts.current[1]?.set(t, [s.map((x) => x.rssBytes), s.map((x) => x.guestMemUsedBytes ?? null)]);
    charts.current[2]?.set(t, [s.map((x) => x.guestDiskUsedBytes ?? null)]);
  }, [i.samples]);
  const last = i.samples[i.samples.length - 1];
  const reported = i.view.memory && last ? i.view.memory - last.rssBytes : undefined;
  return html`<div class="charts">
      <div ref=${cpuEl}></div>
      <div ref=${memEl}></div>
      <div ref=${diskEl}></div>
    </div>
    ${reported !== undefined && reported > 0 && html`<p class="note">Of its ${bytes(i.view.memory)}, the VM holds ${bytes(last!.rssBytes)} of the host's memory now: ${bytes(reported)} is not taken from the host (never touched, or given back by free page reporting).</p>`}
    <h3>Containers</h3>
    ${
      !(i.containers ?? []).some((c) => c.state === 'running')
        ? html`<p class="empty">No running containers.</p>`
        : html`<table class="list">
            <thead>
              <tr>
                <th>Container</th>
                <th>CPU</th>
                <th>Memory</th>
                <th>CPU, last 10 min</th>
              </tr>
            </thead>
            <tbody>
              ${(i.containers ?? [])
                .filter((c) => c.state === 'running')
                .map((c) => {
                  const h = history.current.get(c.name) ?? [];
                  return html`<tr>
                    <td>${c.name}</td>
                    <td>${c.cpuPercent !== undefined ? `${c.cpuPercent.toFixed(1)} %` : '–'}</td>
                    <td>${bytes(c.memBytes)}</td>
                    <td><${Spark} values=${h.map((x) => x.cpu ?? 0)} /></td>
                  </tr>`;
                })}
            </tbody>
          </table>`
    }`;
}

/** A sparkline (SVG) of a few values. */
function Spark({ values }: { values: number[] }) {
  if (values.length < 2) return html`<span class="sub">–</span>`;
  const max = Math.max(1, ...values);
  const pts = values.map((v, k) => `${(k / (values.length - 1)) * 120},${24 - (v / max) * 22}`).join(' ');
  return html`<svg class="spark" width="120" height="24" viewBox="0 0 120 24" aria-hidden="true">
    <polyline points=${pts} fill="none" stroke="currentColor" stroke-width="1.5" />
  </svg>`;
}

function SidePanel({ name, panel, close }: { name: string; panel: NonNullable<Panel>; close: () => void }) {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && panel.kind === 'logs' && close();
    addEventListener('keydown', onKey);
    return () => removeEventListener('keydown', onKey);
  }, [panel]);
  const title =
    panel.kind === 'shell'
      ? `Terminal: instance ${name}`
      : `${panel.kind === 'logs' ? 'Logs' : 'Terminal'}: ${panel.c.name}`;
  return html`<aside class="panel" aria-label=${title}>
    <div class="panel-head">
      <h3>${title}</h3>
      <button onClick=${close} aria-label="Close">✕</button>
    </div>
    ${
      panel.kind === 'logs'
        ? html`<${Logs} key=${panel.c.id} name=${name} c=${panel.c} />`
        : html`<${Term}
            key=${panel.kind === 'shell' ? 'shell' : panel.c.id}
            path=${panel.kind === 'shell' ? `${inst(name)}/shell` : `${inst(name)}/containers/${panel.c.id}/exec`}
          />`
    }
  </aside>`;
}

function Logs({ name, c }: { name: string; c: ContainerRow }) {
  const [lines, setLines] = useState<{ ts: string; text: string; stream: string }[]>([]);
  const [q, setQ] = useState('');
  const [showTs, setShowTs] = useState(false);
  const [followOn, setFollowOn] = useState(true);
  const [ended, setEnded] = useState(false);
  const box = useRef<HTMLPreElement>(null);
  useEffect(() => {
    const es = new EventSource(`${inst(name)}/containers/${c.id}/logs`);
    let buf: { ts: string; text: string; stream: string }[] = [];
    let t: number | undefined;
    es.addEventListener('line', (e) => {
      buf.push(JSON.parse((e as MessageEvent<string>).data) as { ts: string; text: string; stream: string });
      t ??= window.setTimeout(() => {
        const add = buf;
        buf = [];
        t = undefined;
        setLines((all) => [...all, ...add].slice(-5000));
      }, 50);
    });
    es.addEventListener('end', () => (setEnded(true), es.close()));
    return () => es.close();
  }, [name, c.id]);
  useEffect(() => {
    if (followOn && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, followOn]);
  const shown = q ? lines.filter((l) => l.text.toLowerCase().includes(q.toLowerCase())) : lines;
  return html`<div class="logs">
    <div class="bar">
      <input
        type="search"
        placeholder="Search"
        aria-label="Search the logs"
        value=${q}
        onInput=${(e: Event) => setQ((e.target as HTMLInputElement).value)}
      />
      <label
        ><input type="checkbox" checked=${showTs} onChange=${() => setShowTs(!showTs)} /> Timestamps</label
      >
      <label
        ><input type="checkbox" checked=${followOn} onChange=${() => setFollowOn(!followOn)} /> Follow</label
      >
      <span class="sub"
        >${shown.length} of ${lines.length} lines${ended ? ' · the container stopped' : ''}</span
      >
    </div>
    <pre ref=${box} class="logtext" data-testid="logs" tabindex="0">
${shown.map((l) => html`<div class=${l.stream}>${showTs && html`<span class="ts">${l.ts} </span>`}${l.text}</div>`)}</pre>
  </div>`;
}

function Term({ path }: { path: string }) {
  const el = useRef<HTMLDivElement>(null);
  const [ended, setEnded] = useState<string>();
  useEffect(() => openTerminal(el.current!, path, setEnded), [path]);
  return html`<div class="term" ref=${el} data-testid="terminal"></div>
    ${ended && html`<p class="sub">The session ended (${ended}).</p>`}`;
}

render(html`<${App} />`, document.getElementById('app')!);
