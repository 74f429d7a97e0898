import { defineConfig } from 'vite';

// The dashboard's page: built into dist/web, served by the dashboard server (src/dashboard/server.ts).
export default defineConfig({
  root: 'web',
  base: './',
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    assetsDir: 'assets',
    reportCompressedSize: false,
    // No inline module preload polyfill: the CSP allows only the page's own script files.
    modulePreload: { polyfill: false },
  },
});
