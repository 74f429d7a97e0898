/** %XX-escaping for the guest channel's line protocol (berth-guestd and berth-syncd undo it). */
const pct = (c: string) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`;

/** A path as the rest of a line: %, CR and LF escaped. */
export function escapePath(p: string): string {
  return p.replace(/[%\r\n]/g, pct);
}

/** One space-separated word of a line: spaces escaped too. */
export function escapeWord(s: string): string {
  return s.replace(/[%\r\n ]/g, pct);
}
