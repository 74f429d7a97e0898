import { describe, expect, it } from 'vitest';
import { guestEphemeralRange, hostEphemeralRange, hostUnprivilegedPortStart, inRange } from './host-ports.js';

describe('ephemeral port ranges', () => {
  it("reads Linux's range, else the IANA one", () => {
    expect(hostEphemeralRange('32768\t60999\n')).toEqual({ first: 32768, last: 60999 });
    expect(hostEphemeralRange('nonsense')).toEqual({ first: 49152, last: 65535 });
    expect(hostEphemeralRange('60999 32768')).toEqual({ first: 49152, last: 65535 });
  });

  it("gives the guest the larger stretch outside the host's", () => {
    expect(guestEphemeralRange({ first: 32768, last: 60999 })).toEqual({ first: 10000, last: 32767 });
    expect(guestEphemeralRange({ first: 49152, last: 65535 })).toEqual({ first: 10000, last: 49151 });
    expect(guestEphemeralRange({ first: 10000, last: 60000 })).toEqual({ first: 60001, last: 65535 });
    expect(guestEphemeralRange({ first: 1024, last: 65535 })).toEqual({ first: 32768, last: 60999 });
    expect(inRange(32768, { first: 32768, last: 60999 })).toBe(true);
    expect(inRange(32767, { first: 32768, last: 60999 })).toBe(false);
  });
});

describe('hostUnprivilegedPortStart', () => {
  it("reads Linux's sysctl, and falls back to 1024", () => {
    expect(hostUnprivilegedPortStart('1024\n')).toBe(1024);
    expect(hostUnprivilegedPortStart('80\n')).toBe(80);
    expect(hostUnprivilegedPortStart('0')).toBe(0);
    expect(hostUnprivilegedPortStart('')).toBe(1024);
    expect(hostUnprivilegedPortStart('x')).toBe(1024);
    expect(hostUnprivilegedPortStart('70000')).toBe(1024);
  });
});
