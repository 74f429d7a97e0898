/**
 * Values fixed per guest image that the host's code and the guest's programs both need. The host imports them
 * from here; the image carries them as /usr/local/lib/berth/guest.conf (renderGuestConf, generated at image
 * build and part of the recipe hash), which the Perl reads with conf() (sys.pl) and the build's shell with sed.
 * A leaf: imports nothing. Per-instance values (addresses, keys, shares) go through fw_cfg instead
 * (guest/PROTOCOL.md).
 */

/**
 * The guest channel's protocol version, sent by berth-guestd with "ready" and "pong" (the versions:
 * guest/PROTOCOL.md).
 */
export const GUEST_PROTOCOL = 7;

/** The virtio-serial port's name, which berth-guestd looks for among the guest's ports. */
export const GUEST_CHANNEL_NAME = 'io.berth.events';

/** Directories of the shared folders held open in the guest ("pin"): the host sends at most this many. */
export const MAX_PINS = 20000;

/**
 * The modules berth's initrd loads (with their dependencies): the root disk, its filesystem and the network;
 * then fw_cfg and 9p, which the shared folders (and so dockerd) wait for in berth-init: it loads those itself
 * only if the initrd did not.
 */
export const INITRD_MODULES = {
  boot: ['crc32c_generic', 'virtio_pci', 'virtio_blk', 'virtio_net', 'ext4'],
  shares: ['qemu_fw_cfg', '9pnet_virtio', '9p'],
} as const;

/** The data disk's virtio serial: how the guest tells it from the OS disk (guest/PROTOCOL.md). */
export const DATA_DISK_SERIAL = 'berth-data';

/**
 * A cluster's registry (berth cluster): the name every node resolves to the node that runs it, and its port
 * there (Debian's docker-registry, on the data disk). The engines trust it without TLS: it is reached only on
 * the cluster's own segment and, from the host, on 127.0.0.1.
 */
export const CLUSTER_REGISTRY = { name: 'registry.berth.internal', port: 5000 } as const;

/** Where the generated file goes, relative to the image's root. */
export const GUEST_CONF_PATH = 'usr/local/lib/berth/guest.conf';

/** What an image's container runtime sets in guest.conf. */
export interface GuestConfRuntime {
  /** The engine's API socket in the guest: berth-guestd waits for it to answer before it says "ready". */
  engineSocket: string;
}

/** guest.conf: `key=value` lines (the value runs to the end of the line, no quoting), `#` comments. */
export function renderGuestConf(runtime: GuestConfRuntime): string {
  const entries: Array<[string, string | number]> = [
    ['protocol', GUEST_PROTOCOL],
    ['channel', GUEST_CHANNEL_NAME],
    ['max_pins', MAX_PINS],
    ['initrd_modules', [...INITRD_MODULES.boot, ...INITRD_MODULES.shares].join(' ')],
    ['fw_modules', INITRD_MODULES.shares.join(' ')],
    ['engine_socket', runtime.engineSocket],
    ['data_serial', DATA_DISK_SERIAL],
    ['registry_name', CLUSTER_REGISTRY.name],
    ['registry_port', CLUSTER_REGISTRY.port],
  ];
  return (
    "# Generated at image build from berth's src/guest/guest-config.ts: values the host shares with the guest.\n" +
    entries.map(([k, v]) => `${k}=${v}\n`).join('')
  );
}
