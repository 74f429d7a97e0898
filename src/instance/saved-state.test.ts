import { describe, expect, it } from 'vitest';
import { parseInstanceConfig } from '../config/load.js';
import { savedStateProblem, stateFingerprint } from './saved-state.js';

describe('saved state validity', () => {
  const cfg = parseInstanceConfig('cpus: 2\nmemory: 2GiB\n', 'f');
  const fp = stateFingerprint(cfg, 'img1', 'qemu-7.2');

  it('is usable only with the same hardware, image and QEMU', () => {
    const meta = { fingerprint: fp, imageId: 'img1', sizeBytes: 10, savedAt: '' };
    expect(savedStateProblem(meta, fp)).toBeUndefined();
    expect(
      savedStateProblem(meta, stateFingerprint({ ...cfg, memory: 4 * 1024 ** 3 }, 'img1', 'qemu-7.2')),
    ).toMatch(/configuration/);
    expect(savedStateProblem(meta, stateFingerprint(cfg, 'img2', 'qemu-7.2'))).toMatch(/changed/);
    expect(savedStateProblem(meta, stateFingerprint(cfg, 'img1', 'qemu-8.0'))).toMatch(/changed/);
  });

  it('refuses a partial file', () => {
    expect(savedStateProblem({ fingerprint: fp, imageId: 'img1', sizeBytes: -5, savedAt: '' }, fp)).toMatch(
      /incomplete/,
    );
  });
});

describe('reading the saved state', () => {
  it('a state file without a usable record reads as unusable (so the next start discards it)', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { readSavedState } = await import('./saved-state.js');
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-saved-'));
    process.env.BERTH_HOME = home;
    try {
      fs.mkdirSync(path.join(home, 'dev'));
      expect(await readSavedState('dev')).toBeUndefined();
      fs.writeFileSync(path.join(home, 'dev', 'suspend.state'), 'x'.repeat(7));
      const meta = await readSavedState('dev');
      expect(meta?.sizeBytes).toBe(-7);
      expect(savedStateProblem(meta!, 'fp')).toMatch(/incomplete/);
      fs.writeFileSync(
        path.join(home, 'dev', 'suspend.json'),
        JSON.stringify({ fingerprint: 'fp', imageId: 'i', sizeBytes: 7, savedAt: 'now' }),
      );
      expect(await readSavedState('dev')).toMatchObject({ fingerprint: 'fp', sizeBytes: 7 });
      fs.writeFileSync(path.join(home, 'dev', 'suspend.json'), '{"fingerprint": 3}');
      expect((await readSavedState('dev'))?.sizeBytes).toBe(-7);
    } finally {
      delete process.env.BERTH_HOME;
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
