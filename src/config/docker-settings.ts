import { z } from 'zod';

/**
 * The `docker:` section of the instance YAML: Docker Engine settings merged into the guest's daemon.json at the
 * next start (like Colima's `docker:` key and Docker Desktop's "Docker Engine" settings). berth checks the
 * names (a typo gets file:line and the field, not a daemon that will not start) and the shape of the common
 * ones; dockerd has the last word on values, and a start it refuses fails with its own message.
 */

/** What berth sets itself: the engine's sockets, paths and TLS belong to the VM's plumbing. */
export const OWNED_DOCKER_SETTINGS: Record<string, string> = {
  hosts: 'berth forwards the engine socket to the host itself (berth env, the docker context)',
  'data-root': "the engine's data lives on the instance's data disk",
  'exec-root': 'set by the guest image',
  pidfile: 'set by the guest image',
  containerd: "berth runs the guest's containerd",
  'containerd-namespace': "berth runs the guest's containerd",
  'containerd-plugins-namespace': "berth runs the guest's containerd",
  tls: 'the socket is forwarded over a private channel, not TCP',
  tlsverify: 'the socket is forwarded over a private channel, not TCP',
  tlscacert: 'the socket is forwarded over a private channel, not TCP',
  tlscert: 'the socket is forwarded over a private channel, not TCP',
  tlskey: 'the socket is forwarded over a private channel, not TCP',
  group: "the socket's access is the host's (0600, your user)",
};

/** dockerd's daemon.json settings (Docker Engine 28) that berth passes on. */
const KNOWN = [
  'allow-direct-routing',
  'authorization-plugins',
  'bip',
  'bip6',
  'bridge',
  'builder',
  'cdi-spec-dirs',
  'cgroup-parent',
  'debug',
  'default-address-pools',
  'default-cgroupns-mode',
  'default-gateway',
  'default-gateway-v6',
  'default-ipc-mode',
  'default-network-opts',
  'default-runtime',
  'default-shm-size',
  'default-ulimits',
  'dns',
  'dns-opts',
  'dns-search',
  'exec-opts',
  'experimental',
  'features',
  'fixed-cidr',
  'fixed-cidr-v6',
  'host-gateway-ip',
  'host-gateway-ips',
  'icc',
  'init',
  'init-path',
  'insecure-registries',
  'ip',
  'ip-forward',
  'ip-forward-no-drop',
  'ip-masq',
  'ip6tables',
  'iptables',
  'ipv6',
  'labels',
  'live-restore',
  'log-driver',
  'log-format',
  'log-level',
  'log-opts',
  'max-concurrent-downloads',
  'max-concurrent-uploads',
  'max-download-attempts',
  'metrics-addr',
  'mtu',
  'no-new-privileges',
  'node-generic-resources',
  'oom-score-adjust',
  'proxies',
  'raw-logs',
  'registry-mirrors',
  'runtimes',
  'seccomp-profile',
  'selinux-enabled',
  'shutdown-timeout',
  'storage-driver',
  'storage-opts',
  'swarm-default-advertise-addr',
  'userland-proxy',
  'userland-proxy-path',
  'userns-remap',
] as const;

const strings = z.array(z.string());
/** The shapes checked here; the other known settings pass as they are. */
const SHAPES: Record<string, z.ZodTypeAny> = {
  'insecure-registries': strings,
  'registry-mirrors': z.array(z.string().url()),
  dns: strings,
  'dns-search': strings,
  'dns-opts': strings,
  labels: strings,
  debug: z.boolean(),
  experimental: z.boolean(),
  'live-restore': z.boolean(),
  ipv6: z.boolean(),
  iptables: z.boolean(),
  ip6tables: z.boolean(),
  mtu: z.number().int().min(68),
  'log-driver': z.string(),
  'log-level': z.enum(['debug', 'info', 'warn', 'error', 'fatal']),
  'log-opts': z.record(z.string()),
  'default-address-pools': z.array(z.object({ base: z.string(), size: z.number().int() }).strict()),
  'max-concurrent-downloads': z.number().int().min(1),
  'max-concurrent-uploads': z.number().int().min(1),
  'shutdown-timeout': z.number().int().min(0),
  // features.containerd-snapshotter is the image store, fixed per instance (see imageStore in instance.json).
  features: z.record(z.boolean()).refine((f) => !('containerd-snapshotter' in f), {
    message:
      'containerd-snapshotter is set by berth: new instances use the containerd image store, instances moved from the previous layout keep theirs',
  }),
};

export const dockerSettingsSchema = z.record(z.unknown()).superRefine((settings, ctx) => {
  for (const [key, value] of Object.entries(settings)) {
    if (key in OWNED_DOCKER_SETTINGS) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [key],
        message: `set by berth, not here: ${OWNED_DOCKER_SETTINGS[key]}`,
      });
      continue;
    }
    if (!(KNOWN as readonly string[]).includes(key)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [key],
        message: `not a Docker Engine setting (daemon.json) berth knows; see https://docs.docker.com/reference/cli/dockerd/#daemon-configuration-file`,
      });
      continue;
    }
    const shape = SHAPES[key];
    const r = shape?.safeParse(value);
    if (r && !r.success)
      for (const issue of r.error.issues) ctx.addIssue({ ...issue, path: [key, ...issue.path] });
  }
});

export type DockerSettings = Record<string, unknown>;
