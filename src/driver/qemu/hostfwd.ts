import type { HostForward } from '../driver.js';

/** The id of the user-mode netdev in the QEMU command line (args.ts). */
export const NETDEV_ID = 'net0';

/** HMP command adding a forward ("hostfwd_add net0 tcp:127.0.0.1:8080-10.0.2.15:8080"). */
export function hostfwdAddCommand(f: HostForward): string {
  return `hostfwd_add ${NETDEV_ID} ${f.proto}:${f.hostIP}:${f.hostPort}-${f.guestIP}:${f.guestPort}`;
}

export function hostfwdRemoveCommand(f: Pick<HostForward, 'proto' | 'hostIP' | 'hostPort'>): string {
  return `hostfwd_remove ${NETDEV_ID} ${f.proto}:${f.hostIP}:${f.hostPort}`;
}

/**
 * HMP answers with text: empty on success, a message on failure (QMP itself reports success either way).
 * hostfwd_remove says "host forwarding rule for … removed" on success.
 */
export function hmpFailure(output: string, command: 'add' | 'remove'): string | undefined {
  const text = output.trim();
  if (command === 'add') return text === '' ? undefined : text;
  return /removed/.test(text) ? undefined : text || 'no answer';
}

/**
 * Parses "info usernet": the forwarding rules are the lines
 *   TCP[HOST_FORWARD]  13   127.0.0.1  60022   10.0.2.15    22     0     0
 */
export function parseUsernet(text: string): HostForward[] {
  const out: HostForward[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(TCP|UDP)\[HOST_FORWARD\]\s+-?\d+\s+([\d.*]+)\s+(\d+)\s+([\d.*]+)\s+(\d+)/.exec(line);
    if (!m) continue;
    out.push({
      proto: m[1] === 'TCP' ? 'tcp' : 'udp',
      hostIP: m[2] === '*' ? '0.0.0.0' : m[2]!,
      hostPort: Number(m[3]),
      guestIP: m[4]!,
      guestPort: Number(m[5]),
    });
  }
  return out;
}
