import type { AgentEvent } from '../agent-api/events.js';
import type { Logger } from '../util/logger.js';

type WithoutT<E> = E extends AgentEvent ? Omit<E, 't'> : never;

/**
 * The agent's events: kept (the last 500, replayed to each new GET /events client), logged, and pushed to
 * live subscribers. `t` is ms since the agent started, the clock AgentStatus.uptimeMs uses too.
 */
export class EventLog {
  private readonly events: AgentEvent[] = [];
  private readonly listeners = new Set<(e: AgentEvent) => void>();
  private readonly t0: number;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.t0 = now();
  }

  /** ms since the agent started. */
  elapsed(): number {
    return this.now() - this.t0;
  }

  emit(e: WithoutT<AgentEvent>): AgentEvent {
    const full = { ...e, t: this.elapsed() } as AgentEvent;
    this.events.push(full);
    if (this.events.length > 500) this.events.splice(0, this.events.length - 500);
    this.log.info(
      { event: full },
      full.type === 'progress' || full.type === 'notice' ? full.message : full.type,
    );
    for (const l of this.listeners) l(full);
    return full;
  }

  progress(step: string, message: string): void {
    this.emit({ type: 'progress', step, message });
  }

  notice(message: string): void {
    this.emit({ type: 'notice', message });
  }

  history(): AgentEvent[] {
    return [...this.events];
  }

  subscribe(fn: (e: AgentEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
