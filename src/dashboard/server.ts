import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { describeInstance } from '../instance/lifecycle.js';
import { instanceExists, validateName } from '../store/instance-store.js';
import { instanceFile } from '../store/paths.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import { printable } from '../util/log-files.js';
import { loadInstanceConfig } from '../config/load.js';
import { engineOf, folderStates, LiveState, shareRows, type ShareRow } from './live.js';
import { gate, ownHost, SECURITY_HEADERS, sameSecret, sessionCookie, type GateRequest } from './security.js';

/**
 * The dashboard's HTTP server: the built page (dist/web) and a small API over what exists — berth's records and
 * agents (through LiveState), the berth CLI itself for instance actions (so the dashboard and the terminal do the
 * same thing and print the same errors), and each instance's Docker Engine API (dockerode) for containers,
 * images, volumes, logs and terminals. It keeps no state of its own beyond the session secret.
 */
export interface DashboardOptions {
  host?: string;
  port: number;
  /** The one-time-in-the-URL token exchanged for the session cookie. */
  token: string;
  session: string;
  webDir: string;
  /** The berth CLI's entry (dist/cli/main.js): instance actions run it. */
  cliEntry: string;
  log: Logger;
}

const INSTANCE_ACTIONS = ['start', 'stop', 'suspend', 'restart', 'delete'] as const;
const CONTAINER_ACTIONS = ['start', 'stop', 'restart', 'remove'] as const;
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
};
const MAX_BODY = 16 * 1024;
/** Log text without a line end is sent in pieces this long. */
const MAX_LOG_LINE = 16 * 1024;
/** What a page's event stream may have waiting to be sent before it is ended. */
const MAX_PENDING_SSE = 8 * 1024 * 1024;
/** What a terminal's WebSocket may have waiting before its stream is paused. */
const MAX_WS_BUFFER = 1024 * 1024;
/** Container ids and names, volume names, image ids (sha256:…): no slashes, nothing that walks a path. */
const ENGINE_ID_RE = /^(sha256:)?[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export interface Dashboard {
  port: number;
  close(): Promise<void>;
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const live = new LiveState(o.log);
  const actions = new ActionLog();
  let port = o.port;

  const server = http.createServer((req, res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const url = new URL(req.url ?? '/', 'http://dashboard');
    // The exchange: the token from the printed URL becomes the session cookie, and leaves the address bar.
    const token = url.searchParams.get('token');
    if (req.method === 'GET' && url.pathname === '/' && token !== null && ownHost(req.headers.host, port)) {
      if (!sameSecret(token, o.token)) return sendText(res, 401, 'this dashboard link is not valid');
      res.writeHead(303, { 'Set-Cookie': sessionCookie(o.session), Location: '/' });
      return res.end();
    }
    const verdict = gate(gateRequest(req, false), port, o.session);
    if (!verdict.ok) return sendText(res, verdict.status, verdict.reason);
    handle(req, res, url).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) o.log.warn({ err }, 'dashboard request failed');
      if (res.headersSent) return res.end();
      sendJson(res, status, {
        error: errorMessage(err),
        ...(err instanceof HttpError && err.hint ? { hint: err.hint } : {}),
      });
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const parts = pathParts(url.pathname);
    const method = req.method ?? 'GET';
    if (parts[0] !== 'api') return serveStatic(res, url.pathname);
    const [, what, name, sub, id, act] = parts;
    if (what === 'health') return sendJson(res, 200, { ok: true, pid: process.pid });
    if (what === 'events' && method === 'GET') return streamSnapshots(req, res);
    if (what !== 'instances') throw new HttpError(404, `no such API: ${url.pathname}`);
    if (method === 'POST' && name === undefined) return createInstance(req, res);
    if (!name) throw new HttpError(404, 'which instance?');
    try {
      validateName(name);
    } catch (err) {
      throw new HttpError(400, errorMessage(err));
    }
    if (method === 'POST' && (INSTANCE_ACTIONS as readonly string[]).includes(sub ?? ''))
      return runCli(res, name, [sub!, name, ...(sub === 'delete' ? ['--force'] : [])]);
    if (!(await instanceExists(name))) throw new HttpError(404, `no instance "${name}"`);
    // Ids and names go into the engine API's paths: only what the engine itself hands out.
    if (id !== undefined && !ENGINE_ID_RE.test(id))
      throw new HttpError(400, `not a container, image or volume id: ${id}`);
    // A stop waits up to 10 s for the container to exit before the engine kills it; a prune can take longer.
    const engine = engineOf(name, 120_000);
    if (
      sub === 'containers' &&
      id &&
      method === 'POST' &&
      (CONTAINER_ACTIONS as readonly string[]).includes(act ?? '')
    ) {
      const c = engine.getContainer(id);
      await dockerCall(() =>
        act === 'remove'
          ? c.remove({ force: true })
          : act === 'start'
            ? c.start()
            : act === 'stop'
              ? c.stop()
              : c.restart(),
      );
      live.refresh();
      return sendJson(res, 200, { ok: true });
    }
    if (sub === 'containers' && id && act === 'logs' && method === 'GET')
      return streamLogs(req, res, name, id);
    if (sub === 'shares' && method === 'GET' && !id) return sendJson(res, 200, await sharesNow(name));
    if (sub === 'images' && method === 'GET' && !id) {
      const [images, containers] = await dockerCall(() =>
        Promise.all([engine.listImages(), engine.listContainers({ all: true })]),
      );
      const used = new Set(containers.map((c) => c.ImageID));
      return sendJson(
        res,
        200,
        images.map((i) => ({
          id: i.Id,
          tags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
          size: i.Size,
          created: i.Created,
          inUse: used.has(i.Id),
        })),
      );
    }
    if (sub === 'images' && method === 'POST' && id === 'prune') {
      const r = await dockerCall(() => engine.pruneImages({ filters: { dangling: ['false'] } }));
      live.refresh();
      return sendJson(res, 200, { removed: r.ImagesDeleted?.length ?? 0, reclaimed: r.SpaceReclaimed ?? 0 });
    }
    if (sub === 'images' && method === 'POST' && id && act === 'remove') {
      await dockerCall(() => engine.getImage(id).remove());
      return sendJson(res, 200, { ok: true });
    }
    if (sub === 'volumes' && method === 'GET' && !id) {
      const df = (await dockerCall(() => engine.df())) as {
        Volumes?: {
          Name: string;
          Driver: string;
          CreatedAt?: string;
          UsageData?: { Size: number; RefCount: number };
        }[];
      };
      return sendJson(
        res,
        200,
        (df.Volumes ?? []).map((v) => ({
          name: v.Name,
          driver: v.Driver,
          created: v.CreatedAt,
          size: v.UsageData?.Size ?? -1,
          inUse: (v.UsageData?.RefCount ?? 0) > 0,
        })),
      );
    }
    if (sub === 'volumes' && method === 'POST' && id === 'prune') {
      const r = await dockerCall(() => engine.pruneVolumes({ filters: { all: ['true'] } }));
      return sendJson(res, 200, { removed: r.VolumesDeleted?.length ?? 0, reclaimed: r.SpaceReclaimed ?? 0 });
    }
    if (sub === 'volumes' && method === 'POST' && id && act === 'remove') {
      await dockerCall(() => engine.getVolume(id).remove());
      return sendJson(res, 200, { ok: true });
    }
    throw new HttpError(404, `no such API: ${method} ${url.pathname}`);
  }

  async function serveStatic(res: http.ServerResponse, pathname: string): Promise<void> {
    const rel = pathname === '/' ? 'index.html' : pathname.slice(1);
    const file = path.resolve(o.webDir, rel);
    if (!file.startsWith(path.resolve(o.webDir) + path.sep)) throw new HttpError(404, 'not found');
    const body = await fsp.readFile(file).catch(() => undefined);
    if (!body) {
      if (rel === 'index.html')
        throw new HttpError(500, `the dashboard's page is not built (${o.webDir})`, 'run: npm run build');
      throw new HttpError(404, 'not found');
    }
    res.writeHead(200, {
      'Content-Type': MIME[path.extname(file)] ?? 'application/octet-stream',
      'Cache-Control': rel === 'index.html' ? 'no-cache' : 'max-age=31536000, immutable',
    });
    res.end(body);
  }

  /** An SSE stream; the sender returns false when the page reads slower than this writes (wait for 'drain'). */
  function sse(res: http.ServerResponse): (event: string, data: unknown) => boolean {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write(': berth\n\n');
    return (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  function streamSnapshots(req: http.IncomingMessage, res: http.ServerResponse): void {
    const sent = sse(res);
    // A page that stopped reading (a suspended tab): its stream ends rather than grow here; it reconnects.
    const send = (event: string, data: unknown) => {
      sent(event, data);
      if (res.writableLength > MAX_PENDING_SSE) res.destroy();
    };
    const stopLive = live.watch((s) => send('snapshot', s));
    const stopActions = actions.watch((a) => send('action', a));
    const keep = setInterval(() => res.write(': keep-alive\n\n'), 15000);
    req.on('close', () => {
      clearInterval(keep);
      stopLive();
      stopActions();
    });
  }

  async function streamLogs(req: http.IncomingMessage, res: http.ServerResponse, name: string, id: string) {
    // No idle timeout: a quiet container's log stream stays open.
    const c = engineOf(name, 0).getContainer(id);
    const info = await dockerCall(() => c.inspect());
    const stream = (await dockerCall(() =>
      c.logs({ follow: true, stdout: true, stderr: true, timestamps: true, tail: 500 }),
    )) as unknown as NodeJS.ReadableStream & { destroy(): void };
    if (req.destroyed || res.closed) {
      stream.destroy(); // the page closed the panel while the stream was being opened
      return;
    }
    const send = sse(res);
    const line = (kind: 'stdout' | 'stderr', l: string) => {
      const sp = l.indexOf(' ');
      // A page that reads slower than the container writes: the engine's stream waits (bounded memory here).
      if (!send('line', { stream: kind, ts: l.slice(0, sp), text: l.slice(sp + 1) })) {
        stream.pause();
        res.once('drain', () => stream.resume());
      }
    };
    const onText = (kind: 'stdout' | 'stderr') => {
      let rest = '';
      return (chunk: Buffer) => {
        const lines = (rest + chunk.toString('utf8')).split('\n');
        rest = lines.pop() ?? '';
        // A line without an end (a container can write one without limit) is shown in pieces of MAX_LOG_LINE.
        while (rest.length > MAX_LOG_LINE) {
          lines.push(rest.slice(0, MAX_LOG_LINE));
          rest = rest.slice(MAX_LOG_LINE);
        }
        for (const l of lines) line(kind, l);
      };
    };
    if (info.Config.Tty) stream.on('data', onText('stdout'));
    else {
      const out = new PassThrough();
      const err = new PassThrough();
      out.on('data', onText('stdout'));
      err.on('data', onText('stderr'));
      c.modem.demuxStream(stream, out, err);
    }
    stream.on('end', () => {
      send('end', {});
      res.end();
    });
    stream.on('error', () => res.end());
    req.on('close', () => stream.destroy());
  }

  async function createInstance(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = (await readJson(req)) as Record<string, unknown>;
    const name = String(body.name ?? '');
    try {
      validateName(name);
    } catch (err) {
      throw new HttpError(400, errorMessage(err));
    }
    if (await instanceExists(name)) throw new HttpError(409, `instance "${name}" already exists`);
    const args = ['start', name];
    for (const k of ['cpus', 'memory', 'disk', 'arch'] as const) {
      const v = body[k];
      if (v === undefined || v === '') continue;
      if (typeof v !== 'string' && typeof v !== 'number') throw new HttpError(400, `${k}: not a value`);
      args.push(`--${k}=${String(v)}`); // one argument: a value cannot pass for another flag
    }
    return runCli(res, name, args);
  }

  /**
   * Runs `berth ARGS…` as the CLI would, with the same checks and error texts; its progress lines (the agent's
   * events, as `berth start` prints them) go live to every open page; the answer comes when it ends.
   */
  async function runCli(res: http.ServerResponse, name: string, args: string[]): Promise<void> {
    const id = actions.begin(name, args.join(' '));
    // A page does not switch the terminal's docker context under the user (the CLI's own start does).
    const extra = args[0] === 'start' || args[0] === 'restart' ? ['--no-activate'] : [];
    const child = spawn(process.execPath, [o.cliEntry, ...args, ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    let pending = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      out = (out + text).slice(-64 * 1024);
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) actions.line(id, printable(l));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    live.refresh();
    const code = await new Promise<number>((resolve) => {
      child.on('error', (err) => {
        actions.line(id, `could not run berth: ${err.message}`);
        resolve(1);
      });
      child.on('close', (c) => resolve(c ?? 1));
    });
    if (pending.trim()) actions.line(id, printable(pending));
    actions.end(id, code);
    live.refresh();
    const text = printable(out).trim();
    if (code === 0) return sendJson(res, 200, { ok: true, output: text });
    const err = /berth: error: ([^\n]*)/.exec(text)?.[1] ?? `berth ${args[0]} failed (exit ${code})`;
    const hint = /\nhint: ([^\n]*)/.exec(text)?.[1];
    sendJson(res, 422, { error: err, ...(hint ? { hint } : {}), output: text, exitCode: code });
  }

  // Terminals: WebSocket upgrades, gated like everything else (and always by Origin).
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  server.on('upgrade', (req, socket: Duplex, head) => {
    // Node leaves an upgraded socket without an error listener: a peer that resets must not crash the server.
    socket.on('error', () => socket.destroy());
    const verdict = gate(gateRequest(req, true), port, o.session);
    if (!verdict.ok) {
      socket.end(
        `HTTP/1.1 ${verdict.status} ${http.STATUS_CODES[verdict.status]}\r\nConnection: close\r\n\r\n`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // An oversized or malformed frame is an 'error' on the WebSocket: it closes, the server goes on.
      ws.on('error', () => ws.terminate());
      let parts: string[] = [];
      try {
        parts = pathParts(new URL(req.url ?? '/', 'http://dashboard').pathname);
      } catch {
        // a malformed path: "no such terminal" below
      }
      const [, , name, sub, id, act] = parts;
      openTerminal(ws, name ?? '', sub, id, act).catch((err: unknown) => {
        if (ws.readyState !== ws.OPEN) return;
        ws.send(`\r\n\x1b[31mberth: ${printable(errorMessage(err))}\x1b[0m\r\n`);
        ws.close(1011, 'terminal failed');
      });
    });
  });

  async function openTerminal(ws: WebSocket, name: string, sub?: string, id?: string, act?: string) {
    validateName(name);
    if (id !== undefined && !ENGINE_ID_RE.test(id)) throw new Error(`not a container id: ${id}`);
    const size = { cols: 80, rows: 24 };
    if (sub === 'containers' && id && act === 'exec') {
      // No idle timeout: a terminal may sit quiet for as long as its user likes.
      const c = engineOf(name, 0).getContainer(id);
      const exec = await c.exec({
        Cmd: ['sh', '-c', 'if command -v bash >/dev/null; then exec bash; else exec sh; fi'],
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: true,
        Env: ['TERM=xterm-256color'],
      });
      const stream = (await exec.start({ hijack: true, stdin: true, Tty: true })) as Duplex;
      wire(ws, stream, (cols, rows) => void exec.resize({ w: cols, h: rows }).catch(() => undefined));
      return;
    }
    if (sub === 'shell') {
      const session = await sshTo(name);
      const ch = await session
        .execStream(undefined, { ...size, term: 'xterm-256color' })
        .catch((err: unknown) => {
          session.end();
          throw err;
        });
      ch.stderr.on('data', (d: Buffer) => ws.readyState === ws.OPEN && ws.send(d));
      ch.on('close', () => session.end());
      wire(ws, ch, (cols, rows) => ch.setWindow(rows, cols, 0, 0));
      return;
    }
    throw new Error('no such terminal');
  }

  /** Binary frames are keystrokes; a text frame is a control message ({"resize":{cols,rows}}). */
  function wire(ws: WebSocket, stream: Duplex, resize: (cols: number, rows: number) => void): void {
    // The page went away while the terminal was being opened: nothing to wire it to.
    if (ws.readyState !== ws.OPEN) {
      stream.destroy();
      return;
    }
    stream.on('data', (d: Buffer) => {
      if (ws.readyState !== ws.OPEN) return;
      // A page that reads slower than the terminal writes (cat of a big file): the stream waits.
      ws.send(d, () => {
        if (stream.isPaused() && ws.bufferedAmount < MAX_WS_BUFFER / 4) stream.resume();
      });
      if (ws.bufferedAmount > MAX_WS_BUFFER) stream.pause();
    });
    stream.on('end', () => ws.close(1000, 'ended'));
    stream.on('close', () => ws.close(1000, 'ended'));
    stream.on('error', () => ws.close(1011, 'stream error'));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        stream.write(data);
        return;
      }
      try {
        const m = JSON.parse(data.toString('utf8')) as { resize?: { cols?: unknown; rows?: unknown } };
        const cols = Number(m.resize?.cols);
        const rows = Number(m.resize?.rows);
        if (
          Number.isInteger(cols) &&
          Number.isInteger(rows) &&
          cols > 0 &&
          rows > 0 &&
          cols < 1000 &&
          rows < 1000
        )
          resize(cols, rows);
      } catch {
        // not a control message: ignored
      }
    });
    ws.on('close', () => stream.destroy());
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  port = (server.address() as { port: number }).port;
  return {
    port,
    close: async () => {
      live.close();
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An SSH session into a running instance, as `berth ssh` opens it (its own key, the host key pinned). */
async function sshTo(name: string) {
  const v = await describeInstance(name);
  if (v.status !== 'Running' || !v.sshPort) throw new HttpError(409, `instance "${name}" is not running`);
  const { loginKey, publicKeyBlob } = await import('../guest/ssh-keys.js');
  const { SshSession } = await import('../guest/ssh-session.js');
  const user = await loginKey(name);
  const hostKey = publicKeyBlob(await fsp.readFile(instanceFile(name, 'hostKeyPub'), 'utf8'));
  return SshSession.connect({
    host: '127.0.0.1',
    port: v.sshPort,
    user: 'root',
    privateKey: user.privateKey,
    hostKey,
  });
}

/** The shares of an instance with what the guest's mount table says of each (asked when the page shows them). */
async function sharesNow(name: string): Promise<ShareRow[]> {
  const cfg = await loadInstanceConfig(instanceFile(name, 'config'));
  const rows = shareRows(cfg.mounts, instanceFile(name, 'config'));
  const session = await sshTo(name);
  try {
    // What the guest sends is bounded (1 MiB, 15 s): the guest is not trusted to keep its answer short.
    const ch = await session.execStream(
      'cat /proc/mounts; test -e /run/berth/sync.ready && echo BERTH-SYNC-READY',
      undefined,
    );
    const out = await new Promise<string>((resolve) => {
      let text = '';
      const done = () => {
        clearTimeout(timer);
        ch.close();
        resolve(text);
      };
      const timer = setTimeout(done, 15000);
      ch.on('data', (d: Buffer) => {
        text += d.toString('utf8');
        if (text.length > 1024 * 1024) done();
      });
      ch.stderr.resume();
      ch.on('close', done);
    });
    return folderStates(rows, out, out.includes('\nBERTH-SYNC-READY'));
  } finally {
    session.end();
  }
}

/** The last actions (instance start, stop, …) with their output lines, for every page that is open. */
export interface ActionEvent {
  id: number;
  instance: string;
  what: string;
  line?: string;
  exitCode?: number;
}

class ActionLog {
  private next = 1;
  private watchers = new Set<(a: ActionEvent) => void>();
  private running = new Map<number, { instance: string; what: string }>();

  watch(fn: (a: ActionEvent) => void): () => void {
    this.watchers.add(fn);
    for (const [id, a] of this.running) fn({ id, ...a });
    return () => this.watchers.delete(fn);
  }
  begin(instance: string, what: string): number {
    const id = this.next++;
    this.running.set(id, { instance, what });
    this.emit({ id, instance, what });
    return id;
  }
  line(id: number, line: string): void {
    const a = this.running.get(id);
    if (a) this.emit({ id, ...a, line });
  }
  end(id: number, exitCode: number): void {
    const a = this.running.get(id);
    this.running.delete(id);
    if (a) this.emit({ id, ...a, exitCode });
  }
  private emit(a: ActionEvent): void {
    for (const w of this.watchers) w(a);
  }
}

/** What the gate looks at in a request (an upgrade is always checked as a change). */
function gateRequest(req: http.IncomingMessage, upgrade: boolean): GateRequest {
  return {
    method: req.method ?? 'GET',
    host: req.headers.host,
    origin: req.headers.origin,
    cookie: req.headers.cookie,
    upgrade,
  };
}

/** The engine's errors carry its own message (e.g. "conflict: unable to remove…"): shown as they are. */
async function dockerCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as { statusCode?: number; json?: { message?: string }; message?: string };
    if (e.statusCode)
      throw new HttpError(
        e.statusCode >= 500 ? 502 : e.statusCode,
        e.json?.message ?? e.message ?? 'engine error',
      );
    throw new HttpError(502, `the engine did not answer: ${errorMessage(err)}`, 'is the instance running?');
  }
}

/** The path's segments, decoded; a malformed escape is the client's mistake (400), not the server's. */
function pathParts(pathname: string): string[] {
  try {
    return pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw new HttpError(400, `not a valid path: ${pathname}`);
  }
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new HttpError(413, 'request too large');
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new HttpError(400, 'the request body is not JSON');
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

function sendText(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}
