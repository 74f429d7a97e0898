import type { VmEvent } from '../driver.js';

/** QEMU's reasons for a SHUTDOWN event that a guest asked for (QAPI ShutdownCause). */
const GUEST_CAUSES = new Set(['guest-shutdown', 'guest-reset', 'guest-panic']);

/**
 * The VM event a QMP event message stands for, or undefined for events berth does not act on. Pure: what
 * QEMU sends is checked field by field, never trusted to have the documented shape.
 */
export function vmEventOf(msg: unknown): VmEvent | undefined {
  if (typeof msg !== 'object' || msg === null) return undefined;
  const m = msg as { event?: unknown; data?: unknown };
  const data = (typeof m.data === 'object' && m.data !== null ? m.data : {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v.slice(0, 256) : undefined);
  switch (m.event) {
    case 'SHUTDOWN': {
      const reason = str(data.reason) ?? 'unknown';
      return { type: 'shutdown', guest: data.guest === true || GUEST_CAUSES.has(reason), reason };
    }
    case 'GUEST_PANICKED':
      return { type: 'shutdown', guest: true, reason: 'guest-panic' };
    case 'BLOCK_IO_ERROR': {
      // Only the errors that paused the VM matter (the drive's werror policy: stop on ENOSPC by default).
      if (data.action !== 'stop') return undefined;
      return {
        type: 'io-error',
        device: str(data.device) || str(data['node-name']) || 'disk',
        noSpace: data.nospace === true,
        message: str(data.reason) ?? `${str(data.operation) ?? 'I/O'} error`,
      };
    }
    case 'STOP':
      return { type: 'paused' };
    case 'RESUME':
      return { type: 'resumed' };
    default:
      return undefined;
  }
}
