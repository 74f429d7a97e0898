import os from 'node:os';
import { z } from 'zod';
import { dockerSettingsSchema } from './docker-settings.js';
import { parseSize } from '../util/size.js';

export const ARCHES = ['x86_64', 'aarch64'] as const;
export type Arch = (typeof ARCHES)[number];
/** The container runtimes berth can run in an instance (runtime/runtimes.ts has one module for each). */
export const RUNTIMES = ['docker'] as const;
export type RuntimeName = (typeof RUNTIMES)[number];

/** The YAML's `restart:`: what the host agent does when the VM ends without a berth stop or suspend. */
export const RESTART_POLICIES = ['on-failure', 'always', 'no'] as const;
export type RestartPolicy = (typeof RESTART_POLICIES)[number];
/** The restarts counted for the back-off and the crash loop are those of this last stretch of time. */
export const RESTART_WINDOW_MS = 10 * 60_000;

export const ACCELS = ['auto', 'kvm', 'hvf', 'tcg'] as const;
export type Accel = (typeof ACCELS)[number];

/** Foreign architectures a guest can run through binfmt_misc + qemu-user (qemu's names). */
export const BINFMT_ARCHES = ['aarch64', 'arm', 'riscv64', 'ppc64le', 's390x', 'x86_64'] as const;
export type BinfmtArch = (typeof BINFMT_ARCHES)[number];

/** Docker platform names of each qemu-user architecture. */
export const DOCKER_PLATFORM: Record<BinfmtArch, string> = {
  aarch64: 'linux/arm64',
  arm: 'linux/arm/v7',
  riscv64: 'linux/riscv64',
  ppc64le: 'linux/ppc64le',
  s390x: 'linux/s390x',
  x86_64: 'linux/amd64',
};

/** The binfmt list an instance gets from its config: true = every foreign arch, false = none. */
export function binfmtList(arch: Arch, setting: boolean | BinfmtArch[]): BinfmtArch[] {
  const all = BINFMT_ARCHES.filter((a) => a !== arch);
  if (setting === true) return all;
  if (setting === false) return [];
  return setting.filter((a) => a !== arch);
}

export function hostArch(): Arch {
  return os.arch() === 'arm64' ? 'aarch64' : 'x86_64';
}

const sizeString = (what: string, min: number) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    const n = parseSize(v);
    if (n === undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `"${v}" is not a size (try e.g. 4GiB or 512MiB)`,
      });
      return z.NEVER;
    }
    if (n < min) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `${what} must be at least ${min / 1024 ** 2} MiB`,
      });
      return z.NEVER;
    }
    return n;
  });

const imageSchema = z
  .object({
    path: z.string().min(1).optional(),
    url: z.string().url().optional(),
    sha256: z
      .string()
      .regex(/^[a-f0-9]{64}$/, 'must be 64 lowercase hex digits')
      .optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.path && v.url)
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'give either path or url, not both' });
    if (!v.path && !v.url) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'give path or url' });
    if (v.url && !v.sha256)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: 'an image url needs its sha256',
        path: ['sha256'],
      });
    if (v.url && !/^https?:\/\//.test(v.url))
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'only http(s) urls', path: ['url'] });
  });

const port = z.number().int().min(1).max(65535);
const portRange = z
  .tuple([port, port])
  .refine(([a, b]) => a <= b, { message: 'a range is [first, last] with first <= last' });

/**
 * A port-forwarding rule (in the spirit of Lima's portForwards). The first rule matching a guest listener
 * decides; listeners no rule matches are forwarded from the same port on 127.0.0.1.
 */
const portForwardSchema = z
  .object({
    guestPort: port.optional(),
    guestPortRange: portRange.optional(),
    hostPort: port.optional(),
    hostPortRange: portRange.optional(),
    hostIP: z
      .string()
      .ip({ version: 'v4', message: 'must be an IPv4 address such as 127.0.0.1 or 0.0.0.0' })
      .default('127.0.0.1'),
    proto: z.enum(['tcp', 'udp', 'any']).default('any'),
    ignore: z.boolean().default(false),
  })
  .strict()
  .superRefine((r, ctx) => {
    const issue = (message: string, path?: string) =>
      ctx.addIssue({ code: z.ZodIssueCode.custom, message, path: path ? [path] : [] });
    if ((r.guestPort === undefined) === (r.guestPortRange === undefined))
      issue('give guestPort or guestPortRange (one of them)');
    if (r.hostPort !== undefined && r.hostPortRange !== undefined)
      issue('give hostPort or hostPortRange, not both', 'hostPortRange');
    if (r.ignore && (r.hostPort !== undefined || r.hostPortRange !== undefined))
      issue('an ignore rule takes no host port', 'ignore');
    if (r.hostPortRange && !r.guestPortRange) issue('hostPortRange needs a guestPortRange', 'hostPortRange');
    if (
      r.hostPortRange &&
      r.guestPortRange &&
      r.hostPortRange[1] - r.hostPortRange[0] !== r.guestPortRange[1] - r.guestPortRange[0]
    ) {
      issue('hostPortRange must be as long as guestPortRange', 'hostPortRange');
    }
    if (r.hostPort !== undefined && r.guestPortRange && r.guestPortRange[0] !== r.guestPortRange[1]) {
      issue('a single hostPort needs a single guestPort', 'hostPort');
    }
  });
export type PortForwardRule = z.output<typeof portForwardSchema>;

/** Which guest listeners no portForwards rule names are forwarded: every one, the engine's published, none. */
export const AUTO_FORWARD = ['all', 'published', 'none'] as const;
export type AutoForward = (typeof AUTO_FORWARD)[number];

export const MOUNT_TYPES = ['9p'] as const;
/**
 * 9p cache modes berth offers. mmap (default) and none: nothing cached but mmap'd pages, always coherent with
 * host-side edits. loose: the guest caches pages, attributes and directory entries (much faster metadata), but
 * edits made on the host may stay invisible to the guest; for folders only the guest writes to.
 */
export const NINEP_CACHE = ['none', 'mmap', 'loose'] as const;

/** Guest paths a shared folder may not cover: the guest's own system. */
const RESERVED_GUEST_DIRS = [
  '/',
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/lib',
  '/lib64',
  '/proc',
  '/run',
  '/sbin',
  '/sys',
  '/usr',
  '/var',
  '/var/lib/docker',
  '/var/lib/containerd',
  '/tmp',
];

export function reservedGuestPath(p: string): boolean {
  const norm = p.replace(/\/+$/, '') || '/';
  if (RESERVED_GUEST_DIRS.includes(norm)) return true;
  // A parent of one (/var/lib) would hide it too.
  if (RESERVED_GUEST_DIRS.some((d) => d !== '/' && d.startsWith(`${norm}/`))) return true;
  return [
    '/proc/',
    '/sys/',
    '/dev/',
    '/run/',
    '/boot/',
    '/usr/',
    '/etc/',
    '/var/lib/docker/',
    '/var/lib/containerd/',
  ].some((d) => norm.startsWith(d));
}

const mountSchema = z
  .object({
    /** Host directory; "~" is the user's home. */
    location: z.string().min(1),
    /** Guest path; default: the same absolute path as on the host. */
    mountPoint: z.string().min(1).optional(),
    writable: z.boolean().default(true),
    /** 9p cache mode (see NINEP_CACHE). */
    cache: z.enum(NINEP_CACHE).default('mmap'),
    /**
     * Synchronised: the guest keeps its own copy of the folder on its disk (guest-speed small-file work, native
     * inotify) and berth copies changes both ways in the background; see docs/architecture.md.
     */
    sync: z.boolean().default(false),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (!m.location.startsWith('/') && m.location !== '~' && !m.location.startsWith('~/')) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: 'must be an absolute path or start with ~',
        path: ['location'],
      });
    }
    if (m.mountPoint !== undefined && !m.mountPoint.startsWith('/')) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: 'must be an absolute guest path',
        path: ['mountPoint'],
      });
    }
  });
export type MountConfig = z.output<typeof mountSchema>;

/**
 * The instance is a node of a berth cluster (`berth cluster`, which writes this section): its second network
 * card on the cluster's own segment, and where the cluster's registry is.
 */
export const clusterNodeSchema = z
  .object({
    /** The cluster's name. */
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,20}$/, 'a cluster name: lowercase letters, digits and -'),
    /** The cluster's segment: a multicast group and port on the host's loopback (QEMU's socket network). */
    segment: z
      .string()
      .regex(
        /^239\.\d{1,3}\.\d{1,3}\.\d{1,3}:\d{1,5}$/,
        'a multicast group 239.x.y.z and a port, as 239.x.y.z:PORT',
      ),
    /** This node's address on the segment, and the segment's prefix length. */
    address: z.string().ip({ version: 'v4', message: 'must be an IPv4 address' }),
    prefix: z.number().int().min(8).max(30).default(24),
    /** This node's MAC address on the segment (unique in the cluster). */
    mac: z.string().regex(/^52:54:00(:[0-9a-f]{2}){3}$/, 'a MAC address 52:54:00:xx:yy:zz'),
    /** The address of the node that runs the cluster's registry (registry.berth.internal). */
    registry: z.string().ip({ version: 'v4', message: 'must be an IPv4 address' }),
    /** This node runs the registry. */
    serveRegistry: z.boolean().default(false),
    /** What the node was made as: a Swarm manager or a worker (Swarm itself knows if it changed since). */
    role: z.enum(['manager', 'worker']).default('worker'),
  })
  .strict();
export type ClusterNodeConfig = z.output<typeof clusterNodeSchema>;

/** The instance YAML file, as the user writes it. Unknown keys are errors (typos must not pass silently). */
export const instanceConfigSchema = z
  .object({
    arch: z.enum(ARCHES).default(hostArch()),
    cpus: z
      .number()
      .int()
      .min(1)
      .max(256)
      .default(Math.min(2, os.cpus().length || 1)),
    memory: sizeString('memory', 256 * 1024 ** 2).default('2GiB'),
    disk: sizeString('disk', 2 * 1024 ** 3).default('60GiB'),
    accel: z.enum(ACCELS).default('auto'),
    runtime: z.enum(RUNTIMES).default('docker'),
    image: imageSchema.optional(),
    /** Foreign-arch containers via binfmt_misc: true (all), false (none), or a list of qemu arch names. */
    binfmt: z
      .union([z.boolean(), z.array(z.enum(BINFMT_ARCHES)).max(BINFMT_ARCHES.length)], {
        errorMap: () => ({ message: `must be true, false or a list of: ${BINFMT_ARCHES.join(', ')}` }),
      })
      .default(true),
    /** Forwarding rules for guest ports; see portForwardSchema. */
    portForwards: z.array(portForwardSchema).default([]),
    /**
     * The guest's listeners no rule names: all forwarded (as Lima and Docker Desktop users expect: a dev server
     * in a container with host networking just works), only the ports containers publish (`-p`; a guest
     * process cannot capture a host port by listening), or none (only what portForwards names).
     */
    autoForward: z.enum(AUTO_FORWARD).default('all'),
    /**
     * What containers reach of the host's own 127.0.0.1 through host.berth.internal: everything (allow, as on
     * Docker Desktop), nothing (deny), or the ports listed. Enforced in the guest (containers' traffic only).
     */
    hostLoopback: z
      .union([z.enum(['allow', 'deny']), z.array(port).min(1).max(256)], {
        errorMap: () => ({ message: 'must be allow, deny or a list of ports' }),
      })
      .default('allow'),
    /**
     * What berth does when the VM ends on its own (a crash, a kernel panic, a power-off from inside), never
     * after berth stop or suspend: on-failure restarts it after a crash or a reboot, always after any end too,
     * no never does.
     */
    restart: z.enum(RESTART_POLICIES).default('on-failure'),
    /**
     * Point Docker's default socket (/var/run/docker.sock) at this instance while it runs, for tools that know
     * no contexts and read no DOCKER_HOST. Off by default: it needs a writable /var/run, and it is the one
     * place two engines could be confused.
     */
    systemSocket: z.boolean().default(false),
    /** How host folders are shared into the guest (virtio-9p is built into QEMU). */
    mountType: z.enum(MOUNT_TYPES).default('9p'),
    /** Host folders shared into the guest; default: the home directory, writable, at the same path. */
    mounts: z.array(mountSchema).default([{ location: '~', writable: true, cache: 'mmap', sync: false }]),
    /** Docker Engine settings merged into the guest's daemon.json (docker-settings.ts). */
    docker: dockerSettingsSchema.default({}),
    /** Set by `berth cluster`: this instance is a node of a cluster. */
    cluster: clusterNodeSchema.optional(),
  })
  .strict();

export type InstanceConfig = z.output<typeof instanceConfigSchema>;
export type InstanceConfigInput = z.input<typeof instanceConfigSchema>;
