import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// Lives under test/ because the repository's top level is fixed (see README).
export default defineConfig({
  root: fileURLToPath(new URL("..", import.meta.url)),
  test: {
    include: ["test/**/*.test.ts"],
    exclude: ["test/bench/**", "node_modules/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
