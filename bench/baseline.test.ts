import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { baselinePanic } from './baseline.js';

describe('baselinePanic', () => {
  it("finds the kernel's panic line on the baseline's console; nothing on a good boot or no console", async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'berth-baseline-'));
    try {
      expect(await baselinePanic({ dir })).toBeUndefined();
      await fsp.writeFile(path.join(dir, 'serial.log'), '[    1.2] Run /init as init process\n');
      expect(await baselinePanic({ dir })).toBeUndefined();
      await fsp.appendFile(
        path.join(dir, 'serial.log'),
        '[    1.695708] Kernel panic - not syncing: Fatal exception in interrupt\n[    3.12] Shutting down cpus\n',
      );
      expect(await baselinePanic({ dir })).toBe('Fatal exception in interrupt');
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
