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
