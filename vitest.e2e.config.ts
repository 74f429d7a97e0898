import { defineConfig } from 'vitest/config';

// e2e tests boot real QEMU VMs: one file at a time, generous timeouts (TCG emulation is slow).
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    testTimeout: 10 * 60 * 1000,
    hookTimeout: 20 * 60 * 1000,
    fileParallelism: false,
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    sequence: { concurrent: false },
    reporters: ['verbose'],
  },
});
