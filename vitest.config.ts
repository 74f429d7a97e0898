import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Unit tests only (no VM): the program's, and the pure parts of the bench (report renderer, output parsing)
    // and of the e2e support code (parsing berth's output for the run's closing table).
    include: ['src/**/*.test.ts', 'bench/**/*.test.ts', 'test/support/**/*.test.ts'],
  },
});
