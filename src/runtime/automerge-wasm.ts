/**
 * Rebuilding the Automerge wasm module after a panic (see
 * src/doc/automerge-health.ts). Node's build of @automerge/automerge
 * instantiates its module once, when its CommonJS glue is first required;
 * requiring a fresh copy of that glue instantiates a new module with fresh
 * memory, and Automerge.use() points the library at it. Documents of the old
 * instance stay dead; replicas reload them from their stores.
 *
 * The rebuild runs once per panic for the whole process (the module is
 * process-wide), after the failing call has returned, and regions show it in
 * /readyz (automergeRestarting) while it runs.
 */
import * as Automerge from "@automerge/automerge";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { onAutomergePanic, revived } from "../doc/automerge-health.ts";

const require = createRequire(import.meta.url);

/** Instantiates a fresh Automerge wasm module and makes the library use it. */
export function restartAutomergeWasm(): void {
  // The package's Node entry imports this glue; its path is fixed by the package layout.
  const entry = require.resolve("@automerge/automerge");
  const glue = join(dirname(entry), "..", "mjs", "wasm_bindgen_output", "nodejs", "automerge_wasm.cjs");
  delete require.cache[glue];
  Automerge.use(require(glue));
}

let restart: () => void | Promise<void> = restartAutomergeWasm;
let restarting: Promise<void> | undefined;
let lastFailure: Error | undefined;
let installed = false;

/**
 * Rebuilds the module after every panic from now on (idempotent: one rebuild
 * per panic, whoever installed it). Regions call this when they start.
 */
export function installAutomergeRecovery(): void {
  if (installed) return;
  installed = true;
  onAutomergePanic(() => {
    restarting ??= (async () => {
      // After the failing call has answered: the rebuild is not that request's work.
      await Promise.resolve();
      try {
        await restart();
        lastFailure = undefined;
        revived();
      } catch (error) {
        // The module stays dead (every Automerge request answers 503) and /readyz says why.
        lastFailure = error instanceof Error ? error : new Error(String(error));
      }
    })().finally(() => {
      restarting = undefined;
    });
  });
}

/** While a rebuild runs, or after one failed: why the region is not ready. */
export function automergeRecoveryState(): { restarting: boolean; failed?: string } {
  return { restarting: restarting !== undefined, ...(lastFailure ? { failed: lastFailure.message } : {}) };
}

/** Resolves once no rebuild is running. */
export async function automergeRecovered(): Promise<void> {
  while (restarting) await restarting;
}

/** Tests only: replaces how the module is rebuilt (e.g. to hold the rebuild open); returns the undo. */
export function setAutomergeRestartForTesting(replacement: () => void | Promise<void>): () => void {
  restart = replacement;
  return () => {
    restart = restartAutomergeWasm;
  };
}

/** Tests only: makes the current module trap for real (an out-of-bounds access), which terminates it. */
export function trapAutomergeWasmForTesting(): void {
  const doc = Automerge.init();
  const backend = Automerge.getBackend(doc) as unknown as { __wbg_ptr: number };
  backend.__wbg_ptr = 0x7ffffff0;
  try {
    Automerge.save(doc);
  } catch (error) {
    if (!(error instanceof WebAssembly.RuntimeError)) throw error;
    return;
  }
  throw new Error("the Automerge module did not trap");
}
