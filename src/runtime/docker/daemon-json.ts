import type { DockerSettings } from '../../config/docker-settings.js';

/** berth's own settings: bounded container logs (a VM's disk is not returned by deleting a log). */
const DEFAULTS = { 'log-driver': 'json-file', 'log-opts': { 'max-size': '10m', 'max-file': '3' } };

/**
 * The guest's /etc/docker/daemon.json: berth's defaults, then the user's `docker:` settings (already checked:
 * config/docker-settings.ts) over them, `features` and the json-file log options merged key by key, and the
 * image store (features.containerd-snapshotter), which is berth's; a cluster node's engine also trusts the
 * cluster's registry over plain HTTP (`insecureRegistries`, added to the user's).
 */
export function daemonJson(
  user: DockerSettings,
  containerdStore: boolean,
  insecureRegistries: readonly string[] = [],
): string {
  const sameDriver = (user['log-driver'] ?? DEFAULTS['log-driver']) === DEFAULTS['log-driver'];
  const out: Record<string, unknown> = {
    ...DEFAULTS,
    ...user,
    'log-opts': sameDriver
      ? { ...DEFAULTS['log-opts'], ...((user['log-opts'] as object | undefined) ?? {}) }
      : (user['log-opts'] ?? {}),
    features: { ...((user.features as object | undefined) ?? {}), 'containerd-snapshotter': containerdStore },
  };
  if (insecureRegistries.length) {
    const mine = (user['insecure-registries'] as string[] | undefined) ?? [];
    out['insecure-registries'] = [...new Set([...mine, ...insecureRegistries])];
  }
  return JSON.stringify(out, null, 2) + '\n';
}
