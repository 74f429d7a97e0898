/**
 * The host agent's API: HTTP over its unix socket (ha.sock, 0600). One table for the server and every client
 * (the CLI, a dashboard, a cluster controller).
 */
export const AGENT_ROUTES = {
  /** AgentStatus as JSON. */
  status: { method: 'GET', path: '/status' },
  /** Past events, then live ones, as JSON lines (AgentEvent), until the client goes away. */
  events: { method: 'GET', path: '/events' },
  /** PortStatus[] as JSON. */
  ports: { method: 'GET', path: '/ports' },
  /** Accepted at once (202); progress and the end come as events. `?force=1`: no graceful shutdown. */
  stop: { method: 'POST', path: '/stop' },
  /** Accepted at once (202); "stopped" or "suspend-failed" comes as an event. */
  suspend: { method: 'POST', path: '/suspend' },
} as const;

export type AgentRoute = keyof typeof AGENT_ROUTES;
