import http from 'node:http';
import type { PortStatus } from './ports.js';
import { AGENT_ROUTES } from './routes.js';
import type { AgentEvent, AgentStatus, GuestClock } from './events.js';
import { jsonLineSplitter } from './events.js';

function request(
  socketPath: string,
  route: keyof typeof AGENT_ROUTES,
  timeoutMs: number,
  query = '',
): Promise<http.IncomingMessage> {
  const { method, path } = AGENT_ROUTES[route];
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: path + query, timeout: timeoutMs }, resolve);
    req.on('timeout', () => req.destroy(new Error(`agent API ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function body(res: http.IncomingMessage): Promise<string> {
  let s = '';
  res.setEncoding('utf8');
  for await (const chunk of res) s += chunk as string;
  return s;
}

export async function agentStatus(socketPath: string, timeoutMs = 3000): Promise<AgentStatus | undefined> {
  try {
    const res = await request(socketPath, 'status', timeoutMs);
    return JSON.parse(await body(res)) as AgentStatus;
  } catch {
    return undefined; // no agent answering: the caller treats the instance as not managed
  }
}

export async function agentPorts(socketPath: string, timeoutMs = 3000): Promise<PortStatus[]> {
  const res = await request(socketPath, 'ports', timeoutMs);
  return JSON.parse(await body(res)) as PortStatus[];
}

/** The guest clock's offset now (`sync`: set from the host's when off); undefined when the guest cannot say. */
export async function agentClock(
  socketPath: string,
  sync: boolean,
  timeoutMs = 15000,
): Promise<GuestClock | undefined> {
  const res = await request(socketPath, sync ? 'syncClock' : 'clock', timeoutMs);
  const text = await body(res);
  return res.statusCode === 200 ? (JSON.parse(text) as GuestClock) : undefined;
}

export async function agentStop(socketPath: string, force: boolean): Promise<void> {
  const res = await request(socketPath, 'stop', 5000, force ? '?force=1' : '');
  await body(res);
}

export async function agentSuspend(socketPath: string): Promise<void> {
  const res = await request(socketPath, 'suspend', 5000);
  await body(res);
}

/** Streams events until `until` returns true for one of them, or the agent closes the stream. */
export async function followEvents(
  socketPath: string,
  onEvent: (e: AgentEvent) => void,
  until: (e: AgentEvent) => boolean,
): Promise<AgentEvent | undefined> {
  const res = await request(socketPath, 'events', 0);
  res.setEncoding('utf8');
  return new Promise((resolve) => {
    let last: AgentEvent | undefined;
    let done = false;
    const split = jsonLineSplitter((o) => {
      if (done) return;
      const e = o as AgentEvent;
      onEvent(e);
      if (until(e)) {
        done = true;
        last = e;
        res.destroy();
        resolve(e);
      }
    });
    res.on('data', split);
    res.on('close', () => {
      if (!done) resolve(last);
    });
    res.on('error', () => undefined); // 'close' follows and resolves
  });
}
