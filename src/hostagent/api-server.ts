import fsp from 'node:fs/promises';
import http from 'node:http';
import type { PortStatus } from '../forward/port-forwarder.js';
import type { AgentEvent, AgentStatus } from './events.js';

export interface AgentApiHandlers {
  status(): AgentStatus;
  /** Past events, then live ones until the client goes away. */
  subscribe(fn: (e: AgentEvent) => void): () => void;
  history(): AgentEvent[];
  ports(): PortStatus[];
  stop(force: boolean): Promise<void>;
  suspend(): Promise<void>;
}

/** HTTP over the agent's unix socket (0600): GET /status, GET /events (JSON lines), GET /ports, POST /stop, POST /suspend. */
export async function startApiServer(socketPath: string, h: AgentApiHandlers): Promise<http.Server> {
  await fsp.rm(socketPath, { force: true });
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    if (req.method === 'GET' && url.pathname === '/status') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(h.status()));
      return;
    }
    if (req.method === 'GET' && url.pathname === '/ports') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(h.ports()));
      return;
    }
    if (req.method === 'GET' && url.pathname === '/events') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      for (const e of h.history()) res.write(JSON.stringify(e) + '\n');
      const unsub = h.subscribe((e) => res.write(JSON.stringify(e) + '\n'));
      req.on('close', unsub);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/stop') {
      const force = url.searchParams.get('force') === '1';
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
      void h.stop(force);
      return;
    }
    if (req.method === 'POST' && url.pathname === '/suspend') {
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
      void h.suspend().catch(() => undefined); // failures are reported as events
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
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
