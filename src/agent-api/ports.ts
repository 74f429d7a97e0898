/** A socket listening in the guest, as berth-guestd reports it. */
export interface GuestListener {
  proto: 'tcp' | 'udp';
  port: number;
  /** Bound to a wildcard address, or to loopback only. */
  bind: 'any' | 'lo';
  /** The guest process listening, when the guest says (its command name, e.g. docker-proxy). */
  owner?: string;
}

export type ForwardState = 'forwarded' | 'ignored' | 'conflict' | 'privileged' | 'failed';

/** One guest listener and what became of it: what `berth ports` shows (GET /ports). */
export interface PortStatus {
  proto: 'tcp' | 'udp';
  guestPort: number;
  guestBind: 'any' | 'lo';
  hostIP?: string;
  hostPort?: number;
  state: ForwardState;
  reason?: string;
  /** Index of the portForwards rule that decided, if any. */
  rule?: number;
}
