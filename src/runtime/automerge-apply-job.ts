/**
 * What a worker of the Automerge pool runs for an ApplyJob
 * (src/doc/automerge-apply-offload.ts) or an OpsJob (automerge-ops-offload.ts),
 * shown here for a delta: its own engine loads the document's
 * saved bytes, applies the delta with every check the main thread's engine
 * makes, and hands back the result's saved bytes and op index. The copy's
 * actor and clock never reach the result: applying makes no change of its own.
 */
import * as Automerge from "@automerge/automerge";
import { isConcordError } from "../errors.ts";
import { createAutomergeEngineWithIndex } from "../doc/automerge-engine.ts";
import type { ApplyJob, ApplyOutcome, PostedError } from "../doc/automerge-apply-offload.ts";
import type { OpsJob, OpsOutcome } from "../doc/automerge-ops-offload.ts";
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
    return { ok: false, error: posted(error) };
  } finally {
    release(copy);
  }
}

/**
 * Runs a PATCH's ops (an OpsJob) on a copy of the document under the
 * document's own actor, at the prepared time: the change is the one the
 * main thread would have made. The copy is indexed afresh by this engine.
 */
export function runOpsJob(job: OpsJob): OpsOutcome {
  const { engine, indexOf } = createAutomergeEngineWithIndex({ clock: createManualClock(job.timeMs), random: createSeededRandom(0), limits: job.limits });
  let copy: Automerge.Doc<unknown> | undefined;
  try {
    copy = Automerge.load(job.base, { actor: job.actor });
    const made = engine.applyOps(copy, job.ops, job.scope);
    copy = made.state;
    if (made.delta.length === 0) return { ok: true, changed: false };
    return { ok: true, changed: true, saved: engine.snapshot(copy), index: indexOf(copy).exportState(), delta: made.delta };
  } catch (error) {
    return { ok: false, error: posted(error) };
  } finally {
    release(copy);
  }
}

function posted(error: unknown): PostedError {
  const refusal = isConcordError(error) ? error : invalidUpdate("engine_error", "Automerge failed on the worker", { cause: error });
  return { code: refusal.code, message: refusal.message, details: { ...refusal.details } };
}

function release(copy: Automerge.Doc<unknown> | undefined): void {
  if (copy === undefined) return;
  try {
    Automerge.free(copy);
  } catch {
    // a trapped module: the worker exits after answering
  }
}
