import type { GuestNetwork } from '../driver.js';

/**
 * QEMU's user-mode network (slirp) as berth configures it. The guest learns these at boot from the `network`
 * file (driver.ts guestNetworkEntry), never from a copy in the image.
 */
export const USER_NET: GuestNetwork & { subnet: string } = {
  subnet: '10.0.2.0/24',
  guest: '10.0.2.15',
  prefixLength: 24,
  /** slirp's gateway; connections to it reach the host's loopback (host.berth.internal). */
  gateway: '10.0.2.2',
  /** slirp's DNS proxy: asks the host's resolver of the moment. */
  dns: '10.0.2.3',
  host: '10.0.2.2',
  /** An extra guest address, DNAT-ed by the guest to its 127.0.0.1. */
  loopback: '10.0.2.16',
};
