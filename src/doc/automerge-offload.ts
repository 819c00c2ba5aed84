/**
 * The engine's side of off-thread checking (automerge-verdicts.ts):
 * prepare() sends a large delta to the ChangeVerifier and remembers the
 * verdict for that delta object; apply() of the same object then takes the
 * decoded changes from the verdict (read by the JS column reader) and skips
 * the canonical check, or throws the rejection at once.
 *
 * Keyed by object identity (a WeakMap), never by content: a content key
 * short enough to be cheap (the chunk's 4-byte checksum) could be forged to
 * borrow another delta's verdict. Callers hand apply() the very Uint8Array
 * they prepared and do not mutate it between.
 */
import type { ApplyOptions, EngineLimits } from "./engine.ts";
import { assertWithinSize } from "./engine-errors.ts";
import { splitChangeChunks } from "./automerge-chunks.ts";
import { precheckChanges } from "./automerge-precheck.ts";
import { decodeChanges, type IncomingChange } from "./automerge-change-check.ts";
import { readLocalChange } from "./automerge-local-change.ts";
import type { ChangeVerifier, ChunkVerdict, DeltaVerdict } from "./automerge-verdicts.ts";

/**
 * Deltas with fewer ops are checked inline: below this, decoding and
 * re-encoding take a few milliseconds, less than the trip to a worker.
 */
export const offloadMinOps = 2_000;

/** A change with what the verifier already proved about it. */
export interface CheckedChange extends IncomingChange {
  /** Canonical encoding proven (true), left to a save-and-load proof (false), or not checked yet (undefined). */
  canonical?: boolean;
}

export interface PreparedDeltas {
  /** Verifies `delta` off-thread when it is large; never rejects (apply() reports every refusal). */
  prepare(delta: Uint8Array, options?: ApplyOptions): Promise<void>;
  /** The changes of `delta`, decoded (or read, when a verdict allows); throws a prepared refusal. */
  decode(delta: Uint8Array, chunks: Uint8Array[]): CheckedChange[];
}

/** Prepared deltas for one engine; without a verifier, prepare() does nothing. */
export function createPreparedDeltas(verifier: ChangeVerifier | undefined, limits: EngineLimits): PreparedDeltas {
  const verdicts = new WeakMap<Uint8Array, DeltaVerdict>();
  return {
    async prepare(delta, options = {}) {
      if (verifier === undefined || delta.length === 0 || verdicts.has(delta)) return;
      const snapshot = options.sizeLimit === "snapshot";
      let ops: number;
      try {
        assertWithinSize(delta, snapshot ? limits.maxSnapshotBytes : limits.maxDeltaBytes, "delta");
        ops = precheckChanges(splitChangeChunks(delta), snapshot ? undefined : limits.maxOpsPerDelta, limits.maxDepth);
      } catch {
        return; // apply() refuses it in the same cheap way
      }
      if (ops < (verifier.minOps ?? offloadMinOps)) return;
      let verdict: DeltaVerdict;
      try {
        verdict = await verifier.verify(delta);
      } catch {
        return; // the verifier failed, not the delta: apply() checks it here
      }
      verdicts.set(delta, verdict);
    },

    decode(delta, chunks) {
      const verdict = verdicts.get(delta);
      if (verdict === undefined) return decodeChanges(chunks);
      if (!verdict.ok) throw verdict.error;
      if (verdict.chunks.length !== chunks.length) return decodeChanges(chunks); // not this delta's verdict: check it here
      return chunks.map((bytes, i) => fromVerdict(bytes, verdict.chunks[i]!));
    },
  };
}

function fromVerdict(bytes: Uint8Array, verdict: ChunkVerdict): CheckedChange {
  const read = verdict.readerAgrees ? readLocalChange(bytes, verdict.hash) : undefined;
  if (read !== undefined) return { bytes, decoded: read, canonical: verdict.canonical };
  return { ...decodeChanges([bytes])[0]!, canonical: verdict.canonical };
}
