/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The dev server proxies /api (HTTP, Server-Sent Events and WebSocket upgrades)
// to the Go control plane. BACKEND_URL overrides the default.
const backend = process.env.BACKEND_URL || 'http://localhost:8080';

export default defineConfig({
  base: '/',
  plugins: [react()],
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      '/api': { target: backend, changeOrigin: true, ws: true },
      '/health': { target: backend, changeOrigin: true },
    },
  },
  preview: {
    proxy: {
      '/api': { target: backend, changeOrigin: true, ws: true },
    },
  },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    sourcemap: false,
    chunkSizeWarningLimit: 900,
  },
  test: {
    environment: 'jsdom',
    globals: true,
    setupFiles: ['./src/test/setup.ts'],
    css: false,
    include: ['src/**/*.test.{ts,tsx}'],
    // Component tests drive jsdom with real timers; on a loaded 2-core
    // machine one can take several seconds.
    testTimeout: 15_000,
    // Each test file in a worker thread, not a child process: every file
    // still gets its own module graph and environment, without a Node
    // process started per file (~12 % less CPU for the suite).
    pool: 'threads',
  },
});
