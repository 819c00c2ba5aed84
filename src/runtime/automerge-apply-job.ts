/**
 * What a worker of the Automerge pool runs for an ApplyJob
 * (src/doc/automerge-apply-offload.ts): its own engine loads the document's
 * saved bytes, applies the delta with every check the main thread's engine
 * makes, and hands back the result's saved bytes and op index. The copy's
 * actor and clock never reach the result: applying makes no change of its own.
 */
import * as Automerge from "@automerge/automerge";
import { isConcordError } from "../errors.ts";
import { createAutomergeEngineWithIndex } from "../doc/automerge-engine.ts";
import type { ApplyJob, ApplyOutcome } from "../doc/automerge-apply-offload.ts";
import { invalidUpdate } from "../doc/engine-errors.ts";
import { createManualClock } from "./clock.ts";
import { createSeededRandom } from "./random.ts";

/** Runs `job` in this thread; a refusal (a trap included: "unavailable", trapped) is an outcome, not a throw. */
export function runApplyJob(job: ApplyJob): ApplyOutcome {
  const { engine, indexOf } = createAutomergeEngineWithIndex({ clock: createManualClock(0), random: createSeededRandom(0), limits: job.limits });
  let copy: Automerge.Doc<unknown> | undefined;
  try {
    copy = engine.load(job.base);
    const applied = engine.apply(copy, job.delta, { sizeLimit: job.sizeLimit });
    copy = applied.state;
    if (!applied.changed) return { ok: true, changed: false };
    return { ok: true, changed: true, saved: engine.snapshot(copy), index: indexOf(copy).exportState() };
  } catch (error) {
    const refusal = isConcordError(error) ? error : invalidUpdate("engine_error", "Automerge failed to apply the delta", { cause: error });
    return { ok: false, error: { code: refusal.code, message: refusal.message, details: { ...refusal.details } } };
  } finally {
    if (copy !== undefined) {
      try {
        Automerge.free(copy);
      } catch {
        // a trapped module: the worker exits after answering
      }
    }
  }
}
