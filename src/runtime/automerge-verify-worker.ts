/**
 * A worker thread of the change-verifier pool (automerge-verifier-pool.ts):
 * runs the byte-only checks of Automerge deltas (src/doc/automerge-verdicts.ts)
 * in its own Automerge wasm module and posts each verdict back. A refusal
 * travels as its code, message and details (errors lose their class when
 * posted). After a wasm trap its module is dead, so it answers and exits;
 * the pool starts a fresh worker for the next delta.
 */
import { parentPort } from "node:worker_threads";
import { verifyDelta } from "../doc/automerge-verdicts.ts";
import { isWasmPanic } from "../doc/automerge-health.ts";

/** What the pool posts: a job id and the delta's bytes (a copy). */
export interface VerifyRequest {
  id: number;
  delta: Uint8Array;
}

/** What the worker posts back. */
export type VerifyReply =
  | { id: number; ok: true; chunks: Array<{ hash: string; canonical: boolean; readerAgrees: boolean }> }
  | { id: number; ok: false; code: string; message: string; details: Record<string, unknown> };

const port = parentPort;
if (port !== null) {
  port.on("message", ({ id, delta }: VerifyRequest) => {
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
