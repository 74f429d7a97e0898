import fsp from 'node:fs/promises';
import path from 'node:path';
import { binfmtList, type InstanceConfig } from '../config/schema.js';
import { guestNetworkEntry, type GuestNetwork } from '../driver/driver.js';
import { guestEphemeralRange, hostEphemeralRange, type PortRange } from '../forward/host-ports.js';
import { ensureKeyPair } from '../guest/ssh-keys.js';
import { diskLayout } from '../instance/upgrade.js';
import { clusterNetworkEntry, guestFile } from '../instance/vm-spec.js';
import { runtimeFor } from '../runtime/runtimes.js';
import { guestHiddenPaths, guestMountTable, type Share } from '../share/shares.js';
import { FILES } from '../store/filenames.js';
import { berthHome, imageCacheDir, instanceDir, instanceFile } from '../store/paths.js';
import { instanceInfoRecord } from '../store/records.js';

/** The network entry's line for the guest's ephemeral port range (guest/PROTOCOL.md). */
function ephemeralEntry(r: PortRange): string {
  return `ephemeral=${r.first}-${r.last}\n`;
}

/**
 * The files the guest reads at boot (guest/PROTOCOL.md), written into the instance's fw_cfg folder before each
 * boot or resume (QEMU is given them either way): the user's SSH key, the instance's host key pair (generated
 * here and pinned), the binfmt list, the mount table, the network (`network`: the driver's) and the engine's
 * settings.
 */
export async function writeGuestFiles(
  name: string,
  cfg: InstanceConfig,
  shares: Share[],
  network: GuestNetwork,
): Promise<void> {
  await fsp.mkdir(path.join(instanceDir(name), FILES.fwCfgDir), { recursive: true, mode: 0o700 });
  const user = await ensureKeyPair(
    instanceFile(name, 'userKey'),
    instanceFile(name, 'userKeyPub'),
    `berth@${name}`,
  );
  await ensureKeyPair(instanceFile(name, 'hostKey'), instanceFile(name, 'hostKeyPub'), `berth-${name}`);
  const files: Record<string, string> = {
    authorized_keys: user.publicKey + '\n',
    binfmt: binfmtList(cfg.arch, cfg.binfmt).join(' '),
    mounts: guestMountTable(shares),
    // berth's own folders inside the shares: out of the containers' reach.
    hide: guestHiddenPaths(shares, [berthHome(), path.dirname(imageCacheDir())]),
    network:
      guestNetworkEntry(network) +
      ephemeralEntry(guestEphemeralRange(hostEphemeralRange())) +
      `host_loopback=${Array.isArray(cfg.hostLoopback) ? cfg.hostLoopback.join(',') : cfg.hostLoopback}\n` +
      clusterNetworkEntry(cfg.cluster),
    // A new data disk gets the containerd image store (recorded once the disk is made).
    engine: runtimeFor(cfg.runtime).engineConfig(
      cfg,
      (await instanceInfoRecord.read(name))?.imageStore ??
        (diskLayout(name) === 'data' ? 'containerd' : undefined),
    ),
  };
  for (const [entry, text] of Object.entries(files)) {
    await fsp.writeFile(guestFile(name, entry), text, { mode: 0o600 });
  }
}
