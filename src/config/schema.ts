import os from 'node:os';
import { z } from 'zod';
import { parseSize } from '../util/size.js';

export const ARCHES = ['x86_64', 'aarch64'] as const;
export type Arch = (typeof ARCHES)[number];
export const ACCELS = ['auto', 'kvm', 'hvf', 'tcg'] as const;
export type Accel = (typeof ACCELS)[number];

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
  })
  .strict();

export type InstanceConfig = z.output<typeof instanceConfigSchema>;
export type InstanceConfigInput = z.input<typeof instanceConfigSchema>;
