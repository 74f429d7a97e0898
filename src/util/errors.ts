/**
 * Typed errors: a machine-readable code, a human message and hint, and an exit code.
 * Exit codes follow sysexits(3) where one fits.
 */
export type ErrorCode =
  | 'USAGE'
  | 'BAD_CONFIG'
  | 'NOT_FOUND'
  | 'MISSING_DEPENDENCY'
  | 'TIMEOUT'
  | 'CONFLICT'
  | 'PERMISSION'
  | 'IMAGE'
  | 'VM_FAILED'
  | 'INTERNAL';

export const EXIT_CODES: Record<ErrorCode, number> = {
  USAGE: 64,
  BAD_CONFIG: 65,
  NOT_FOUND: 66,
  MISSING_DEPENDENCY: 69,
  INTERNAL: 70,
  VM_FAILED: 71,
  IMAGE: 74,
  TIMEOUT: 75,
  CONFLICT: 75,
  PERMISSION: 77,
};

export class BerthError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  /** Extra lines shown under the message (e.g. the tail of a log). */
  readonly details?: string;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { hint?: string; cause?: unknown; details?: string } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'BerthError';
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }

  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

export function exitCodeFor(err: unknown): number {
  return err instanceof BerthError ? err.exitCode : EXIT_CODES.INTERNAL;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Node system errors carry a string `code` (ENOENT, EADDRINUSE…). */
export function isErrnoException(err: unknown, code?: string): err is NodeJS.ErrnoException {
  return (
    err instanceof Error &&
    typeof (err as NodeJS.ErrnoException).code === 'string' &&
    (code === undefined || (err as NodeJS.ErrnoException).code === code)
  );
}
