import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { ARCHES, hostArch, type Arch } from '../../config/schema.js';
import { runtimeFor } from '../../runtime/runtimes.js';
import { ensureBuiltImage, ensureImportedImage, loadImage, packImage } from '../../image/cache.js';
import { imageCacheDir } from '../../store/paths.js';
import { BerthError } from '../../util/errors.js';
import { info, json, result, step } from '../output.js';

function archOf(v: string | undefined): Arch {
  const a = v ?? hostArch();
  if (!(ARCHES as readonly string[]).includes(a))
    throw new BerthError('USAGE', `--arch: "${a}" is not one of ${ARCHES.join(', ')}`);
  return a as Arch;
}

/** `berth image build|pack` make the default runtime's image (the one `berth start` uses unless told). */
const DEFAULT_RUNTIME = runtimeFor('docker');

export function registerImage(program: Command, run: (fn: () => Promise<void>) => Promise<void>): void {
  const image = program
    .command('image')
    .description('manage guest images (the cache is shared by all instances)');
  image
    .command('build')
    .description('build the default guest image from Debian packages (cached by recipe)')
    .option('--arch <arch>', 'guest architecture')
    .option(
      '--refresh',
      "build it again from the archive's current packages (security fixes); instances move with berth start --upgrade",
    )
    .action((o: { arch?: string; refresh?: boolean }) =>
      run(async () => {
        const t0 = Date.now();
        const img = await ensureBuiltImage(
          archOf(o.arch),
          DEFAULT_RUNTIME.guest,
          (m) => step(m, Date.now() - t0),
          { refresh: o.refresh },
        );
        result(img.dir);
      }),
    );
  image
    .command('pack')
    .argument('<out>', 'archive to write (.tar)')
    .description('pack the default guest image into an archive that --image (path or URL) accepts')
    .option('--arch <arch>', 'guest architecture')
    .action((out: string, o: { arch?: string }) =>
      run(async () => {
        const img = await ensureBuiltImage(archOf(o.arch), DEFAULT_RUNTIME.guest, (m) => step(m));
        const digest = await packImage(img, path.resolve(out));
        info(`packed ${img.id} into ${out}`);
        result(`sha256:${digest}`);
      }),
    );
  image
    .command('import')
    .argument('<source>', 'image archive: a local path or an http(s) URL')
    .option('--sha256 <digest>', 'expected sha256 of the archive (required for URLs)')
    .option('--arch <arch>', 'guest architecture the image must be for')
    .description('verify and cache a prebuilt image archive (as made by "berth image pack")')
    .action((source: string, o: { sha256?: string; arch?: string }) =>
      run(async () => {
        const isUrl = /^https?:\/\//.test(source);
        // It names a cache folder: checked before any network or cache access.
        if (o.sha256 !== undefined && !/^[a-f0-9]{64}$/.test(o.sha256))
          throw new BerthError('USAGE', `--sha256: "${o.sha256}" is not 64 lowercase hex digits`, {
            hint: 'berth image pack prints the digest (sha256:…); give the hex part',
          });
        if (isUrl && !o.sha256)
          throw new BerthError('USAGE', 'an image URL needs --sha256', {
            hint: 'berth image pack prints the digest',
          });
        const img = await ensureImportedImage(
          isUrl ? { url: source, sha256: o.sha256 } : { path: source, sha256: o.sha256 },
          archOf(o.arch),
          (m) => step(m),
        );
        result(img.dir);
      }),
    );
  image
    .command('list')
    .description('list cached guest images')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) =>
      run(async () => {
        const dir = imageCacheDir();
        const names = (await fsp.readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
        const images = await Promise.all(
          names.map(async (n) => {
            const img = await loadImage(path.join(dir, n)).catch(() => undefined);
            const m = img?.manifest;
            return {
              id: n,
              dir: path.join(dir, n),
              arch: m?.arch,
              createdAt: m?.createdAt,
              suite: m?.suite,
              versions: m?.versions,
            };
          }),
        );
        if (o.json) return json(images);
        const line = (i: (typeof images)[number]) =>
          [
            i.id.padEnd(40),
            (i.createdAt ?? '?').slice(0, 10),
            i.suite ?? '',
            Object.entries(i.versions ?? {})
              .map(([k, v]) => `${k} ${v}`)
              .join(', '),
          ]
            .join('  ')
            .trimEnd();
        result(images.length ? images.map(line).join('\n') : `no cached images in ${dir}`);
      }),
    );
}
