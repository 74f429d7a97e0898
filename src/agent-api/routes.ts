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
  /** GuestClock as JSON, measured now; 409 when the guest cannot say (not ready, an older image). */
  clock: { method: 'GET', path: '/clock' },
  /** Measures the guest clock, sets it from the host's if off by more than the tolerance: GuestClock (409 as above). */
  syncClock: { method: 'POST', path: '/clock' },
} as const;

export type AgentRoute = keyof typeof AGENT_ROUTES;
