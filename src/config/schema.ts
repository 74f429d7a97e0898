import os from 'node:os';
import { z } from 'zod';
import { parseSize } from '../util/size.js';

export const ARCHES = ['x86_64', 'aarch64'] as const;
export type Arch = (typeof ARCHES)[number];
export const ACCELS = ['auto', 'kvm', 'hvf', 'tcg'] as const;
export type Accel = (typeof ACCELS)[number];

/** Foreign architectures a guest can run through binfmt_misc + qemu-user-static (qemu's names). */
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
  z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const n = parseSize(v);
      if (n === undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `"${v}" is not a size (try e.g. 4GiB or 512MiB)` });
        return z.NEVER;
      }
      if (n < min) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `${what} must be at least ${min / 1024 ** 2} MiB` });
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
    if (v.path && v.url) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'give either path or url, not both' });
    if (!v.path && !v.url) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'give path or url' });
    if (v.url && !v.sha256) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'an image url needs its sha256', path: ['sha256'] });
    if (v.url && !/^https?:\/\//.test(v.url)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'only http(s) urls', path: ['url'] });
  });

/** The instance YAML file, as the user writes it. Unknown keys are errors (typos must not pass silently). */
export const instanceConfigSchema = z
  .object({
    arch: z.enum(ARCHES).default(hostArch()),
    cpus: z.number().int().min(1).max(256).default(Math.min(2, os.cpus().length || 1)),
    memory: sizeString('memory', 256 * 1024 ** 2).default('2GiB'),
    disk: sizeString('disk', 2 * 1024 ** 3).default('60GiB'),
    accel: z.enum(ACCELS).default('auto'),
    runtime: z.enum(['docker']).default('docker'),
    image: imageSchema.optional(),
    /** Foreign-arch containers via binfmt_misc: true (all), false (none), or a list of qemu arch names. */
    binfmt: z
      .union([z.boolean(), z.array(z.enum(BINFMT_ARCHES)).max(BINFMT_ARCHES.length)], {
        errorMap: () => ({ message: `must be true, false or a list of: ${BINFMT_ARCHES.join(', ')}` }),
      })
      .default(true),
  })
  .strict();

export type InstanceConfig = z.output<typeof instanceConfigSchema>;
export type InstanceConfigInput = z.input<typeof instanceConfigSchema>;
