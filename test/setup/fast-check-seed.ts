/**
 * Replays a fast-check failure. fc.assert prints `{ seed: S, path: "P" }` when a
 * property fails; run the one test again with that seed (and path, to jump
 * straight to the shrunk counterexample):
 *
 *   FC_SEED=S FC_PATH=P npx vitest run --config test/vitest.config.ts test/doc/yjs-convergence.test.ts -t "converges"
 *
 * Properties that pin their own seed (test/sim/property.test.ts) replay as they are.
 */
import fc from "fast-check";

const env = process.env;
if (env["FC_SEED"] !== undefined) {
  fc.configureGlobal({ seed: Number(env["FC_SEED"]), ...(env["FC_PATH"] !== undefined ? { path: env["FC_PATH"] } : {}) });
}
