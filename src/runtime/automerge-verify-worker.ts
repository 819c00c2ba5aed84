/**
 * A worker thread of the change-verifier pool (automerge-verifier-pool.ts):
 * runs the byte-only checks of Automerge deltas (src/doc/automerge-verdicts.ts)
 * and applies large deltas to copies of documents (automerge-apply-job.ts),
 * in its own Automerge wasm module, and posts each answer back. A refusal
 * travels as its code, message and details (errors lose their class when
 * posted). After a wasm trap its module is dead, so it answers and exits;
 * the pool starts a fresh worker for the next job.
 */
import { parentPort } from "node:worker_threads";
import { verifyDelta } from "../doc/automerge-verdicts.ts";
import { automergeDead, isWasmPanic } from "../doc/automerge-health.ts";
import type { ApplyJob, ApplyOutcome } from "../doc/automerge-apply-offload.ts";
import type { OpsJob, OpsOutcome } from "../doc/automerge-ops-offload.ts";
import { runApplyJob, runOpsJob } from "./automerge-apply-job.ts";

/** What the pool posts: a job id and the delta's bytes (a copy) to verify, or a delta to apply. */
export type VerifyRequest = { id: number; delta: Uint8Array } | { id: number; apply: ApplyJob } | { id: number; runOps: OpsJob };

/** What the worker posts back. */
export type VerifyReply =
  | { id: number; ok: true; chunks: Array<{ hash: string; canonical: boolean; readerAgrees: boolean }> }
  | { id: number; ok: false; code: string; message: string; details: Record<string, unknown> }
  | { id: number; applied: ApplyOutcome }
  | { id: number; ran: OpsOutcome };

const port = parentPort;
if (port !== null) {
  port.on("message", (request: VerifyRequest) => {
    if ("apply" in request || "runOps" in request) {
      const reply: VerifyReply = "apply" in request ? { id: request.id, applied: runApplyJob(request.apply) } : { id: request.id, ran: runOpsJob(request.runOps) };
      port.postMessage(reply, transferablesOf("applied" in reply ? reply.applied : reply.ran));
      // The engine's guard noted a trap (the module is dead): a fresh worker takes the next job.
      if (automergeDead()) process.exit(0);
      return;
    }
    const { id, delta } = request;
    const verdict = verifyDelta(delta);
    if (verdict.ok) {
      port.postMessage({ id, ok: true, chunks: verdict.chunks } satisfies VerifyReply);
      return;
    }
    const { code, message, details } = verdict.error;
    port.postMessage({ id, ok: false, code, message, details: { ...details } } satisfies VerifyReply);
    if (isWasmPanic(verdict.error)) process.exit(0);
  });
}

/** The result's own buffers (its saved bytes and the op arrays exportState copied), moved rather than copied. */
function transferablesOf(applied: ApplyOutcome | OpsOutcome): ArrayBuffer[] {
  if (!applied.ok || !applied.changed) return [];
  const buffers = new Set<ArrayBuffer>();
  for (const view of [applied.saved, ...applied.index.actors.map((actor) => actor.ops)]) {
    if (view.buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === view.buffer.byteLength) buffers.add(view.buffer);
  }
  return [...buffers];
}
