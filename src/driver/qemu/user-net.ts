/**
 * QEMU's user-mode network (slirp) as berth configures it: the addresses the guest and the host agent both
 * need. The guest learns them at boot from the `network` entry (see guestNetworkEntry), never from a copy.
 */
export const USER_NET = {
  subnet: '10.0.2.0/24',
  /** The guest's own address (eth0) and its prefix length. */
  guest: '10.0.2.15',
  prefixLength: 24,
  /** slirp's gateway; connections to it reach the host's loopback (host.berth.internal). */
  gateway: '10.0.2.2',
  /** slirp's DNS proxy: asks the host's resolver of the moment. */
  dns: '10.0.2.3',
  /** An extra guest address DNAT-ed to the guest's 127.0.0.1: the target of forwards to loopback-only listeners. */
  loopback: '10.0.2.16',
} as const;

/** The `network` entry the guest reads at boot: one `key=value` per line (shell and Perl read it alike). */
export function guestNetworkEntry(net: typeof USER_NET = USER_NET): string {
  return [
    `address=${net.guest}`,
    `prefix=${net.prefixLength}`,
    `gateway=${net.gateway}`,
    `dns=${net.dns}`,
    `host=${net.gateway}`,
    `loopback=${net.loopback}`,
  ]
    .map((l) => `${l}\n`)
    .join('');
}
