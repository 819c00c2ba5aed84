/**
 * The byte-only half of checking an Automerge delta, and the port that lets
 * it run off the main thread. Checking a large change costs more than
 * applying it: decodeChange plus the canonical re-encoding
 * (automerge-canonical.ts) took 2-3 s of the 4 s a 300,000-op change held
 * the event loop. Neither needs the document, so a ChangeVerifier (a worker
 * pool in src/runtime, injected through EngineDeps) does them on a copy of
 * the bytes, and the engine's apply() only indexes and applies.
 *
 * For indexing, the main thread reads each change's ops with the JS column
 * reader (automerge-local-change.ts) instead of decodeChange. The reader was
 * written for Automerge's own output; a verdict says `readerAgrees` only
 * after the verifier compared the reader's result with decodeChange's on
 * every field the op index uses, for these exact bytes. The reader is
 * deterministic, so the main thread reading the same bytes gets the same ops.
 */
import * as Automerge from "@automerge/automerge";
import { isConcordError, type ConcordError } from "../errors.ts";
import { splitChangeChunks } from "./automerge-chunks.ts";
import { checkCanonical } from "./automerge-canonical.ts";
import { readLocalChange } from "./automerge-local-change.ts";
import { invalidUpdate } from "./engine-errors.ts";
import type { ApplyJob, ApplyOutcome } from "./automerge-apply-offload.ts";
import type { OpsJob, OpsOutcome } from "./automerge-ops-offload.ts";

/** What the verifier learned about one change chunk of a delta. */
export interface ChunkVerdict {
  /** The change's hash, as decodeChange computes it. */
  hash: string;
  /** True: canonically encoded. False: undecided (the engine proves it by a save and load). */
  canonical: boolean;
  /** True when readLocalChange on these bytes yields decodeChange's ops on every field the op index reads. */
  readerAgrees: boolean;
}

/** A delta's verdicts (one per change chunk, in order) or the rejection the checks reached. */
export type DeltaVerdict = { ok: true; chunks: ChunkVerdict[] } | { ok: false; error: ConcordError };

/**
 * Runs the byte-only checks of Automerge deltas somewhere else (a worker).
 * `verify` never rejects for the delta's sake: a bad delta resolves to
 * `{ ok: false }`. It rejects only when the verifier itself failed (the
 * caller then checks on its own thread, as without a verifier).
 */
export interface ChangeVerifier {
  verify(delta: Uint8Array): Promise<DeltaVerdict>;
  /**
   * Optional: applies a delta to a copy of a document there, with every
   * check (automerge-apply-offload.ts). Resolves to the refusal for a bad
   * delta; rejects only when the verifier itself failed.
   */
  apply?(job: ApplyJob): Promise<ApplyOutcome>;
  /** Optional: runs a PATCH's JSON ops on a copy of a document there (automerge-ops-offload.ts); rejects as apply() does. */
  runOps?(job: OpsJob): Promise<OpsOutcome>;
  /** Deltas with fewer ops are checked (and applied) inline (default offloadMinOps in automerge-offload.ts). */
  readonly minOps?: number;
  /** Documents with more ops than this times the delta's are applied inline (default maxDocOpsPerDeltaOp). */
  readonly maxDocOpsPerDeltaOp?: number;
}

/** The byte-only checks of `delta`, in this thread: what a ChangeVerifier runs. */
export function verifyDelta(delta: Uint8Array): DeltaVerdict {
  try {
    return { ok: true, chunks: splitChangeChunks(delta).map(verifyChunk) };
  } catch (error) {
    if (isConcordError(error)) return { ok: false, error };
    // A wasm trap or anything else out of decodeChange: the main thread's module would meet the same.
    return { ok: false, error: invalidUpdate("malformed", "Automerge change does not decode", { cause: error }) };
  }
}

function verifyChunk(bytes: Uint8Array): ChunkVerdict {
  let decoded: Automerge.DecodedChange;
  try {
    decoded = Automerge.decodeChange(bytes);
  } catch (cause) {
    throw invalidUpdate("malformed", "Automerge change does not decode", { cause });
  }
  const canonical = checkCanonical(bytes, decoded) === "canonical";
  let read: Automerge.DecodedChange | undefined;
  try {
    read = readLocalChange(bytes, decoded.hash);
  } catch {
    read = undefined;
  }
  return { hash: decoded.hash, canonical, readerAgrees: read !== undefined && sameIndexedFields(read, decoded) };
}

/** The fields indexChange and OpCheck read, compared between the JS reader's result and decodeChange's. */
export function sameIndexedFields(read: Automerge.DecodedChange, decoded: Automerge.DecodedChange): boolean {
  if (read.actor !== decoded.actor || read.seq !== decoded.seq || read.startOp !== decoded.startOp) return false;
  if (read.hash !== decoded.hash || !sameStrings(read.deps, decoded.deps)) return false;
  if (read.ops.length !== decoded.ops.length) return false;
  for (let i = 0; i < read.ops.length; i++) {
    const a = read.ops[i] as unknown as Record<string, unknown>;
    const b = decoded.ops[i] as unknown as Record<string, unknown>;
    if (a["action"] !== b["action"] || a["obj"] !== b["obj"] || a["key"] !== b["key"] || a["elemId"] !== b["elemId"]) return false;
    if ((a["insert"] === true) !== (b["insert"] === true)) return false;
    if (a["action"] === "set" && (a["datatype"] === "counter") !== (b["datatype"] === "counter")) return false;
    if (!sameStrings(a["pred"], b["pred"])) return false;
  }
  return true;
}

function sameStrings(a: unknown, b: unknown): boolean {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
