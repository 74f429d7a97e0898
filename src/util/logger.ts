import { pino, destination, stdTimeFunctions, type Logger } from 'pino';

/** What a logger holds in memory, at most, while its file cannot be written (a full disk). */
const MAX_BUFFERED = 1024 * 1024;

/**
 * Host agent logger: JSON lines to a file descriptor (its log file).
 *
 * A write that fails (ENOSPC: the disk holding BERTH_HOME is full) must not end the process: sonic-boom
 * emits 'error', and an 'error' with no listener is thrown, which killed the host agent at the moment it
 * had to notice the full disk and pause the VM (the heal e2e's "pause never came"). The lines stay buffered
 * (up to 1 MiB; beyond that they are dropped) and are written once the disk has room again.
 */
export function fileLogger(
  fd: number,
  level = process.env.BERTH_LOG_LEVEL ?? 'info',
  onWriteError: (err: Error) => void = () => undefined,
): Logger {
  const dest = destination({ fd, sync: true, maxLength: MAX_BUFFERED });
  dest.on('error', onWriteError);
  return pino({ level, base: undefined, timestamp: stdTimeFunctions.isoTime }, dest);
}

export type { Logger };
