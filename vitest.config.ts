import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Real sockets and real SQLite files: keep parallelism modest on 2-core machines.
    maxWorkers: 2,
    pool: 'forks',
  },
});
