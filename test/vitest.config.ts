import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Lives under test/ because the repository's top level is fixed (see README).
export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/bench/**", "node_modules/**"],
    setupFiles: ["test/setup/fast-check-seed.ts"],
    // A safety net against a hang, not a budget: tests wait on events (virtual time, readiness), and a
    // loaded 2-core machine runs the long ones (simulator seeds, 1000-run properties) several times slower.
    // Long seed sweeps are not here at all: `npm run sim:sweep`.
    // Three files at a time even on two cores: most files wait on servers, processes and disks, and vitest's
    // default (cores - 1, so one file at a time here) left CI mostly idle. Nothing here depends on speed.
    maxWorkers: 3,
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});
