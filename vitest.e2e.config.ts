import { defineConfig } from 'vitest/config';

// e2e tests boot real QEMU VMs: one file at a time, generous timeouts (TCG emulation is slow).
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.test.ts'],
    // Each file's wall time, its setup included, for scripts/test.sh's closing table.
    setupFiles: ['test/support/per-file.ts'],
    // Once per run: the guest image, and compose and buildx for every test environment.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 10 * 60 * 1000,
    hookTimeout: 20 * 60 * 1000,
    fileParallelism: false,
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    sequence: { concurrent: false },
    // scripts/test.sh asks for a JSON record too (per file and per case times) for its closing table.
    reporters: process.env.BERTH_TEST_RESULTS
      ? ['verbose', ['json', { outputFile: process.env.BERTH_TEST_RESULTS }]]
      : ['verbose'],
  },
});
