import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The hub and the browser are asynchronous and the machine may be loaded: a poll waits up to 10 s.
    expect: { poll: { timeout: 10_000, interval: 100 } },
    // Real sockets and real SQLite files: keep parallelism modest on 2-core machines.
    maxWorkers: 2,
    pool: 'forks',
  },
});
