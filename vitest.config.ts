import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Unit tests only (no VM): the program's, and the bench's pure parts (report renderer, output parsing).
    include: ['src/**/*.test.ts', 'bench/**/*.test.ts'],
  },
});
