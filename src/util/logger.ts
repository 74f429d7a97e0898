import { pino, destination, stdTimeFunctions, type Logger } from 'pino';

/** Host agent logger: JSON lines to a file descriptor (its log file). */
export function fileLogger(fd: number, level = process.env.BERTH_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    { level, base: undefined, timestamp: stdTimeFunctions.isoTime },
    destination({ fd, sync: true }),
  );
}

export type { Logger };
