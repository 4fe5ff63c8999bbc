import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native tests run in forked workers: a crash in the addon fails a file, not the runner.
    pool: 'forks',
    poolOptions: { forks: { singleFork: false } },
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
