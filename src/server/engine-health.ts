/**
 * A region's side of engine panics (src/doc/automerge-health.ts): rebuilds
 * the Automerge module after one (src/runtime/automerge-wasm.ts), logs it,
 * and answers /readyz 503 while the rebuild runs or after it failed, so a
 * dead engine never hides behind a green /readyz.
 */
import type { Logger } from "pino";
import { automergeDead, automergePanics, onAutomergePanic } from "../doc/automerge-health.ts";
import { automergeRecoveryState, installAutomergeRecovery } from "../runtime/automerge-wasm.ts";
import type { Readiness } from "./ops-routes.ts";

/** Starts recovery (once per process) and logs each panic for `region`; returns the function that stops the logging. */
export function watchEnginePanics(region: string, logger: Logger | undefined): () => void {
  installAutomergeRecovery();
  return onAutomergePanic((cause) => {
    logger?.error(
      { region, engine: "automerge", err: cause, panics: automergePanics().count },
      "the Automerge engine panicked (wasm trap): rebuilding it; its documents reload from the store",
    );
  });
}

/** Not ready while the Automerge engine is dead or being rebuilt; undefined when it is fine. */
export function engineReadiness(): Readiness | undefined {
  const recovery = automergeRecoveryState();
  if (recovery.failed !== undefined) return { ready: false, reason: `the Automerge engine crashed and could not be rebuilt: ${recovery.failed}` };
  if (recovery.restarting || automergeDead()) return { ready: false, reason: "the Automerge engine crashed and is being rebuilt" };
  return undefined;
}
