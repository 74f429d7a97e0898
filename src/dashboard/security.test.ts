import { describe, expect, it } from 'vitest';
import {
  gate,
  newSecret,
  cookieValues,
  sameSecret,
  SECURITY_HEADERS,
  SESSION_COOKIE,
  sessionCookie,
} from './security.js';

const PORT = 7780;
const S = 'session-secret';
const own = `http://127.0.0.1:${PORT}`;
const cookie = `${SESSION_COOKIE}=${S}`;

describe('dashboard gate', () => {
  it('lets its own page read and change things', () => {
    expect(gate({ method: 'GET', host: `127.0.0.1:${PORT}`, cookie, upgrade: false }, PORT, S)).toEqual({
      ok: true,
    });
    expect(gate({ method: 'GET', host: `LOCALHOST:${PORT}`, cookie, upgrade: false }, PORT, S)).toEqual({
      ok: true,
    });
    expect(
      gate({ method: 'POST', host: `127.0.0.1:${PORT}`, origin: own, cookie, upgrade: false }, PORT, S),
    ).toEqual({
      ok: true,
    });
    expect(
      gate(
        {
          method: 'GET',
          host: `localhost:${PORT}`,
          origin: `http://localhost:${PORT}`,
          cookie,
          upgrade: true,
        },
        PORT,
        S,
      ),
    ).toEqual({ ok: true });
  });

  it('refuses another Host (DNS rebinding), even with the cookie', () => {
    for (const host of [`evil.example:${PORT}`, `127.0.0.1:${PORT + 1}`, '127.0.0.1', undefined])
      expect(gate({ method: 'GET', host, cookie, upgrade: false }, PORT, S)).toMatchObject({
        ok: false,
        status: 403,
      });
  });

  it('refuses a change or a WebSocket from another Origin, or with none', () => {
    for (const origin of ['http://evil.example', `http://127.0.0.1:${PORT + 1}`, 'null', undefined]) {
      expect(
        gate({ method: 'POST', host: `127.0.0.1:${PORT}`, origin, cookie, upgrade: false }, PORT, S),
      ).toMatchObject({
        ok: false,
        status: 403,
      });
      expect(
        gate({ method: 'GET', host: `127.0.0.1:${PORT}`, origin, cookie, upgrade: true }, PORT, S),
      ).toMatchObject({
        ok: false,
        status: 403,
      });
    }
  });

  it('asks for a session: none, or a wrong one, is 401', () => {
    for (const c of [undefined, '', `${SESSION_COOKIE}=nope`, `other=${S}`, `${SESSION_COOKIE}=${S}x`])
      expect(
        gate({ method: 'GET', host: `127.0.0.1:${PORT}`, cookie: c, upgrade: false }, PORT, S),
      ).toMatchObject({
        ok: false,
        status: 401,
      });
  });

  it('a session cookie set by a page on another port does not shadow the real one', () => {
    const both = `${SESSION_COOKIE}=planted; ${SESSION_COOKIE}=${S}`;
    expect(gate({ method: 'GET', host: `127.0.0.1:${PORT}`, cookie: both, upgrade: false }, PORT, S)).toEqual(
      {
        ok: true,
      },
    );
  });

  it('reads every value a cookie name has', () => {
    expect(cookieValues('a=1; b=2;c=3; a=4; junk; ab=5', 'a')).toEqual(['1', '4']);
    expect(cookieValues(undefined, 'a')).toEqual([]);
  });

  it('secrets are random and compared whole', () => {
    const a = newSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newSecret()).not.toBe(a);
    expect(sameSecret(a, a)).toBe(true);
    expect(sameSecret(a.slice(0, -1), a)).toBe(false);
    expect(sameSecret(undefined, a)).toBe(false);
  });

  it('the cookie is HttpOnly and SameSite=Strict; the CSP allows only its own scripts', () => {
    expect(sessionCookie('x')).toMatch(/HttpOnly/);
    expect(sessionCookie('x')).toMatch(/SameSite=Strict/);
    const csp = SECURITY_HEADERS['Content-Security-Policy']!;
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toMatch(/frame-ancestors 'none'/);
    expect(Object.keys(SECURITY_HEADERS).some((k) => k.toLowerCase().startsWith('access-control'))).toBe(
      false,
    );
  });
});
