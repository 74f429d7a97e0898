import crypto from 'node:crypto';

/**
 * The dashboard's gate. A local web server is reachable by every page open in the user's browser: a page on
 * any site can send it requests (CSRF), open WebSockets to it (no same-origin rule for those), or point a DNS
 * name of its own at 127.0.0.1 and read the answers (DNS rebinding). So:
 * - the Host header must name 127.0.0.1 or localhost with the dashboard's port (rebinding sends the
 *   attacker's name);
 * - a session cookie is required (HttpOnly, SameSite=Strict: never sent on another site's requests), given
 *   only in exchange for the random token in the URL `berth dashboard` prints;
 * - a request that changes something, and every WebSocket upgrade, must carry an Origin that is the
 *   dashboard's own.
 * No CORS headers are ever sent, so other origins cannot read answers.
 */

export const SESSION_COOKIE = 'berth_session';

/** A new secret: 32 random bytes, URL-safe. */
export function newSecret(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** Compares secrets in constant time (a timing difference must not reveal how much of a guess was right). */
export function sameSecret(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/** The Host values the dashboard answers to. */
export function allowedHosts(port: number): string[] {
  return [`127.0.0.1:${port}`, `localhost:${port}`];
}

/** Whether a Host header names the dashboard itself (not a rebound DNS name). */
export function ownHost(host: string | undefined, port: number): boolean {
  return host !== undefined && allowedHosts(port).includes(host.toLowerCase());
}

/** The Origins its own pages send. */
export function allowedOrigins(port: number): string[] {
  return allowedHosts(port).map((h) => `http://${h}`);
}

/** Every value a cookie header gives `name` (a name may come more than once, with different paths). */
export function cookieValues(header: string | undefined, name: string): string[] {
  return (header ?? '')
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p.startsWith(`${name}=`))
    .map((p) => p.slice(name.length + 1));
}

export interface GateRequest {
  method: string;
  host?: string;
  origin?: string;
  cookie?: string;
  upgrade: boolean;
}

export type GateVerdict =
  | { ok: true }
  /** 401: no session (the page says to open the URL berth printed); 403: a request from elsewhere. */
  | { ok: false; status: 401 | 403; reason: string };

/**
 * Pure: whether a request may go on. `session` is the server's session secret; a request carrying the token
 * (the exchange itself) is let through to be handled before this, by the caller.
 */
export function gate(req: GateRequest, port: number, session: string): GateVerdict {
  if (!ownHost(req.host, port))
    return { ok: false, status: 403, reason: `Host "${req.host ?? ''}" is not this dashboard` };
  const changes = !['GET', 'HEAD'].includes(req.method.toUpperCase()) || req.upgrade;
  if (changes && (!req.origin || !allowedOrigins(port).includes(req.origin)))
    return {
      ok: false,
      status: 403,
      reason: `a request from origin "${req.origin ?? 'none'}" may not change anything here`,
    };
  // Any of the session cookies sent may be the one: a page on another port of 127.0.0.1 (cookies do not keep
  // ports apart) can set one of its own first, which must not lock the user out.
  if (!cookieValues(req.cookie, SESSION_COOKIE).some((v) => sameSecret(v, session)))
    return { ok: false, status: 401, reason: 'no dashboard session: open the URL "berth dashboard" printed' };
  return { ok: true };
}

/** The cookie that carries the session: never sent by the browser on another site's requests. */
export function sessionCookie(session: string): string {
  return `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/`;
}

/**
 * Sent with every answer. The page loads only its own scripts; inline styles are allowed because xterm.js
 * sizes its rows with them (no inline script is).
 */
export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
};
