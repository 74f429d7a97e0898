import { CLUSTER_REGISTRY } from '../../guest/guest-config.js';
import type { ContainerRuntime } from '../runtime.js';
import {
  contextName,
  currentContext,
  dockerCliAvailable,
  ensureContext,
  removeContext,
  useDefaultContext,
} from './docker-context.js';
import { pingEngine } from './engine-ping.js';
import { daemonJson } from './daemon-json.js';
import { hostCliMissing, installHostCli } from './host-cli.js';

/** Docker Engine (dockerd + containerd + runc from Debian) behind its API socket, found through a docker context. */
export const dockerRuntime: ContainerRuntime = {
  name: 'docker',
  guest: {
    // docker-registry: a cluster's registry (berth cluster), started only on the node that serves it.
    packages: ['docker.io', 'docker-registry'],
    // Docker Engine 28 with BuildKit, containerd 2 and runc 1.3 from Debian testing on a Debian 13 base. The
    // CLI plugins berth installs on the host (compose, buildx) come from the same suite (host-cli.ts).
    newer: { suite: 'forky', packages: ['docker.io', 'containerd', 'runc'] },
    overlay: 'docker',
    engineSocket: '/run/docker.sock',
    dataDir: '/var/lib/docker',
  },
  // userland-proxy (dockerd's default) listens for every published port; with it off nothing does, and the
  // guest's listener scan sees no published port at all. Since Engine 28 dockerd opens each published port's
  // socket itself and hands it to docker-proxy (moby#48132), so the guest may find dockerd holding it: the
  // guest names one owner per socket and names it again only when the set of ports changes, so a port first
  // seen in dockerd's hands stayed "not published" (an e2e caught it after a stop/start). dockerd listens on
  // no other TCP/UDP port of the guest unless Swarm is on (its control ports, forwarded on a cluster's first
  // node in any case).
  publishers: ['docker-proxy', 'dockerd'],
  ping: pingEngine,
  engineConfig: (cfg, imageStore) =>
    daemonJson(
      cfg.docker,
      imageStore === 'containerd',
      cfg.cluster ? [`${CLUSTER_REGISTRY.name}:${CLUSTER_REGISTRY.port}`] : [],
    ),
  host: {
    noun: 'docker context',
    cli: 'docker',
    available: dockerCliAvailable,
    name: contextName,
    ensure: ensureContext,
    current: currentContext,
    remove: removeContext,
    useDefault: useDefaultContext,
    tools: {
      missing: () => hostCliMissing(),
      install: async (progress) => {
        await installHostCli({ progress });
      },
    },
    env: (hostSocket, guestSocket) => ({
      DOCKER_HOST: `unix://${hostSocket}`,
      // DOCKER_HOST wins over a context; an old DOCKER_CONTEXT would only confuse "which socket am I using?".
      DOCKER_CONTEXT: null,
      // Testcontainers mounts the engine's socket into its Ryuk container: the path inside the VM, not ours.
      TESTCONTAINERS_DOCKER_SOCKET_OVERRIDE: guestSocket,
    }),
  },
};
