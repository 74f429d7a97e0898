import fsp from 'node:fs/promises';
import http from 'node:http';
import type { AgentEvent, AgentStatus, GuestClock } from '../agent-api/events.js';
import type { PortStatus } from '../agent-api/ports.js';
import { AGENT_ROUTES, type AgentRoute } from '../agent-api/routes.js';

export interface AgentApiHandlers {
  status(): AgentStatus;
  /** Past events, then live ones until the client goes away. */
  subscribe(fn: (e: AgentEvent) => void): () => void;
  history(): AgentEvent[];
  ports(): PortStatus[];
  stop(force: boolean): Promise<void>;
  suspend(): Promise<void>;
  /** Measures the guest clock (`sync`: set from the host's when off); undefined when the guest cannot say. */
  clock(sync: boolean): Promise<GuestClock | undefined>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void;

const JSON_TYPE = { 'content-type': 'application/json' };

function routes(h: AgentApiHandlers): Record<AgentRoute, Handler> {
  return {
    status: (_req, res) => res.writeHead(200, JSON_TYPE).end(JSON.stringify(h.status())),
    ports: (_req, res) => res.writeHead(200, JSON_TYPE).end(JSON.stringify(h.ports())),
    events: (req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      for (const e of h.history()) res.write(JSON.stringify(e) + '\n');
      const unsub = h.subscribe((e) => res.write(JSON.stringify(e) + '\n'));
      req.on('close', unsub);
    },
    stop: (_req, res, url) => {
      res.writeHead(202, JSON_TYPE).end('{"accepted":true}');
      void h.stop(url.searchParams.get('force') === '1');
    },
    suspend: (_req, res) => {
      res.writeHead(202, JSON_TYPE).end('{"accepted":true}');
      void h.suspend().catch(() => undefined); // failures are reported as events
    },
    clock: (_req, res) => void answerClock(res, h.clock(false)),
    syncClock: (_req, res) => void answerClock(res, h.clock(true)),
  };
}

async function answerClock(
  res: http.ServerResponse,
  measured: Promise<GuestClock | undefined>,
): Promise<void> {
  const c = await measured.catch(() => undefined);
  if (c) res.writeHead(200, JSON_TYPE).end(JSON.stringify(c));
  else
    res
      .writeHead(409, JSON_TYPE)
      .end('{"error":"the guest cannot tell its clock (not ready, or an image older than protocol 5)"}');
}

/** Serves the agent API (agent-api/routes.ts) on the agent's unix socket, 0600. */
export async function startApiServer(socketPath: string, h: AgentApiHandlers): Promise<http.Server> {
  await fsp.rm(socketPath, { force: true });
  const table = routes(h);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    const route = (Object.keys(AGENT_ROUTES) as AgentRoute[]).find(
      (r) => AGENT_ROUTES[r].method === req.method && AGENT_ROUTES[r].path === url.pathname,
    );
    if (!route) {
      res.writeHead(404, JSON_TYPE).end('{"error":"not found"}');
      return;
    }
    table[route](req, res, url);
  });
  const oldUmask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
  } finally {
    process.umask(oldUmask);
  }
  await fsp.chmod(socketPath, 0o600);
  return server;
}
