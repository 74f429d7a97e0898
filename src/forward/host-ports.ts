import fs from 'node:fs';

/** An inclusive range of ports. */
export interface PortRange {
  first: number;
  last: number;
}

/** Where the OS picks ports for outgoing connections when Linux does not say (macOS, Windows, IANA). */
const IANA_EPHEMERAL: PortRange = { first: 49152, last: 65535 };

/**
 * The host's ephemeral port range: Linux's /proc/sys/net/ipv4/ip_local_port_range ("32768\t60999"), else the
 * IANA range. A forward that listens there can take a port the host's own outgoing connections need.
 */
export function hostEphemeralRange(text?: string): PortRange {
  const t = text ?? readOr('/proc/sys/net/ipv4/ip_local_port_range');
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(t ?? '');
  if (!m) return IANA_EPHEMERAL;
  const first = Number(m[1]);
  const last = Number(m[2]);
  return first >= 1 && first <= last && last <= 65535 ? { first, last } : IANA_EPHEMERAL;
}

/**
 * The first port an unprivileged process may bind (Linux's net.ipv4.ip_unprivileged_port_start; 1024 where it
 * cannot be read). berth's QEMU binds forwards without privileges, even when berth runs as root.
 */
export function hostUnprivilegedPortStart(text?: string): number {
  const t = text ?? readOr('/proc/sys/net/ipv4/ip_unprivileged_port_start');
  const n = Number((t ?? '').trim());
  return t !== undefined && t.trim() !== '' && Number.isInteger(n) && n >= 0 && n <= 65536 ? n : 1024;
}

function readOr(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function inRange(port: number, r: PortRange): boolean {
  return port >= r.first && port <= r.last;
}

/**
 * The guest's ephemeral range: the larger stretch of [10000, 65535] outside the host's, so that ports the guest
 * picks by itself (Docker's `-p 80` / `-P` publish from it) are forwarded to host ports outside the host's own
 * ephemeral range. Linux's default 32768–60999 gives 10000–32767.
 */
export function guestEphemeralRange(host: PortRange): PortRange {
  const below: PortRange = { first: 10000, last: host.first - 1 };
  const above: PortRange = { first: host.last + 1, last: 65535 };
  const size = (r: PortRange) => Math.max(0, r.last - r.first + 1);
  const best = size(below) >= size(above) ? below : above;
  // A host range that leaves no room (misconfigured): the guest keeps Linux's default.
  return size(best) >= 1000 ? best : { first: 32768, last: 60999 };
}
