import fsp from 'node:fs/promises';
import { parseDocument, stringify } from 'yaml';
import { BerthError } from '../util/errors.js';
import { formatSize } from '../util/size.js';
import { parseInstanceConfig } from './load.js';
import { instanceConfigSchema, type InstanceConfig, type InstanceConfigInput } from './schema.js';

/** Settings given as command-line flags (strings as typed, validated by the same schema as the file). */
export interface ConfigFlags {
  arch?: string;
  cpus?: number;
  memory?: string;
  disk?: string;
  accel?: string;
  runtime?: string;
  image?: string;
  imageSha256?: string;
  /** Whole sections set by berth itself (a cluster's nodes: cluster, autoForward), written as given. */
  sections?: Partial<Pick<InstanceConfigInput, 'cluster' | 'autoForward'>>;
}

const FLAG_NAMES: Record<string, string> = {
  arch: '--arch',
  cpus: '--cpus',
  memory: '--memory',
  disk: '--disk',
  accel: '--accel',
  runtime: '--runtime',
  image: '--image',
  'image.path': '--image',
  'image.url': '--image',
  'image.sha256': '--image-sha256',
};

function flagsToRaw(f: ConfigFlags): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const k of ['arch', 'cpus', 'memory', 'disk', 'accel', 'runtime'] as const)
    if (f[k] !== undefined) raw[k] = f[k];
  if (f.image !== undefined) {
    raw.image = /^https?:\/\//.test(f.image) ? { url: f.image } : { path: f.image };
    if (f.imageSha256) (raw.image as Record<string, string>).sha256 = f.imageSha256;
  } else if (f.imageSha256) {
    throw new BerthError('USAGE', '--image-sha256 needs --image');
  }
  return raw;
}

/** Validates flags alone so that a bad flag is reported as a flag, not as a file line. */
export function validateFlags(f: ConfigFlags): void {
  const res = instanceConfigSchema.partial().safeParse(flagsToRaw(f));
  if (!res.success) {
    const i = res.error.issues[0]!;
    const key = i.path.join('.');
    throw new BerthError('USAGE', `${FLAG_NAMES[key] ?? key}: ${i.message}`, {
      hint: 'see "berth start --help"',
    });
  }
}

const HEADER = `# berth instance configuration. Edit and run "berth restart" to apply.
# cpus and memory apply at the next start; disk can grow, not shrink; arch cannot change.
`;

/** YAML text for a new instance: defaults overlaid with flags, every field written out. */
export function newConfigText(f: ConfigFlags): { text: string; config: InstanceConfig } {
  validateFlags(f);
  const raw: Record<string, unknown> = { ...flagsToRaw(f), ...f.sections };
  const cfg = instanceConfigSchema.parse(raw);
  const out: Record<string, unknown> = {
    arch: cfg.arch,
    cpus: cfg.cpus,
    memory: typeof raw.memory === 'string' ? raw.memory : formatSize(cfg.memory),
    disk: typeof raw.disk === 'string' ? raw.disk : formatSize(cfg.disk),
    accel: cfg.accel,
    runtime: cfg.runtime,
    binfmt: cfg.binfmt,
    restart: cfg.restart,
  };
  if (cfg.image) out.image = cfg.image;
  Object.assign(out, f.sections);
  return { text: HEADER + stringify(out), config: cfg };
}

/** Applies flags to an existing file's text, keeping the user's comments and layout. */
export function updatedConfigText(
  text: string,
  file: string,
  f: ConfigFlags,
): { text: string; before: InstanceConfig; after: InstanceConfig; changed: boolean } {
  const before = parseInstanceConfig(text, file);
  validateFlags(f);
  const raw = flagsToRaw(f);
  if (Object.keys(raw).length === 0) return { text, before, after: before, changed: false };
  const doc = parseDocument(text);
  for (const [k, v] of Object.entries(raw)) doc.set(k, v);
  const newText = doc.toString();
  const after = parseInstanceConfig(newText, file);
  return { text: newText, before, after, changed: newText !== text };
}

/** Rules for changing an existing instance (from flags or edits to the file). */
export function checkChange(
  before: { arch: string; disk?: number },
  after: InstanceConfig,
  file: string,
): void {
  if (before.arch !== after.arch) {
    throw new BerthError(
      'BAD_CONFIG',
      `${file}: arch: the instance was created as ${before.arch}; it cannot change to ${after.arch}`,
      {
        hint: `create another instance for ${after.arch}: berth start NAME --arch ${after.arch}`,
      },
    );
  }
  if (before.disk !== undefined && after.disk < before.disk) {
    throw new BerthError(
      'BAD_CONFIG',
      `${file}: disk: ${formatSize(after.disk)} is smaller than the instance's disk (${formatSize(before.disk)}); disks can grow, not shrink`,
      {
        hint: `set disk to ${formatSize(before.disk)} or more`,
      },
    );
  }
}

export async function readText(file: string): Promise<string> {
  return fsp.readFile(file, 'utf8');
}
