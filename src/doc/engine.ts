/**
 * The contract every CRDT engine meets. Yjs and Automerge differences live
 * behind it: nothing outside src/doc branches on the engine's kind.
 */
import type { Clock } from "../runtime/clock.ts";
import type { JsonValue } from "./canonical-json.ts";
import type { JsonOp } from "./json-ops.ts";
import type { Random } from "../runtime/random.ts";
import type { ChangeVerifier } from "./automerge-verdicts.ts";

export const docKinds = ["yjs", "automerge"] as const;
export type DocKind = (typeof docKinds)[number];

export interface EngineLimits {
  /** Largest delta accepted from a client, in bytes. Default 8 MiB. */
  maxDeltaBytes: number;
  /**
   * Largest snapshot `load` accepts, and largest delta when `apply` is told the
   * bytes are a whole state (anti-entropy diffs, a full state for a new region).
   * Default 256 MiB: a document may grow past a client delta's limit.
   */
  maxSnapshotBytes: number;
  /**
   * Deepest nesting of maps/lists/texts accepted. Default 64. Every container
   * on the path counts, including JSON objects/arrays stored as values: a
   * Yjs root type or a top-level Automerge value is depth 1, a map inside it 2.
   */
  maxDepth: number;
  /**
   * Most operations one client delta or one JSON-ops request may carry
   * (Automerge: ops of its changes; JSON ops: ops plus characters and value
   * nodes written). Default 100,000. Validation and apply cost grows with
   * ops, not bytes (Automerge compresses a 300,000-character insert to
   * 300 KB that takes seconds to check), so this bounds one request's work.
   * Whole states from other regions are bounded by maxSnapshotBytes instead.
   */
  maxOpsPerDelta: number;
}

export const defaultEngineLimits: EngineLimits = {
  maxDeltaBytes: 8 * 1024 * 1024, maxSnapshotBytes: 256 * 1024 * 1024, maxDepth: 64, maxOpsPerDelta: 100_000,
};

/** What names the document an op edits (deterministic container ids derive from it). */
export interface OpScope {
  docId: string;
  /** Simulator only (InjectedBugs.racyContainerCreate): create containers with this instance's own writer. */
  racy?: boolean;
}

/** How `apply` bounds a delta's size: a client delta (default) or a whole state from a trusted region. */
export interface ApplyOptions {
  sizeLimit?: "delta" | "snapshot";
}

export interface EngineDeps {
  clock: Clock;
  random: Random;
  limits?: Partial<EngineLimits>;
  /**
   * Where the Automerge engine checks the bytes of large deltas (see
   * automerge-verdicts.ts): a worker pool in Node (src/runtime). Without it
   * every check runs inside apply(), on the caller's thread.
   */
  changeVerifier?: ChangeVerifier;
}

/**
 * One CRDT implementation. `S` is the engine's live document (a Y.Doc, an
 * Automerge doc). All byte arrays are engine-native encodings.
 *
 * Errors: every method that takes bytes throws ConcordError("invalid_update")
 * or ConcordError("too_large") on bad input, never anything else. When such an
 * error has `details.damaged === true`, the state passed in must be discarded
 * and reloaded from durable storage; otherwise it is exactly as before.
 * A rejected delta that only lacks dependencies carries
 * `details.reason === "missing_dependencies"`. Other reasons: "malformed",
 * "too_deep", "unsupported_content", "conflicting_history", "engine_error"
 * (see src/doc/engine-errors.ts).
 *
 * States are values to pass on, not to keep: after apply() or change(),
 * continue with the returned state. (Automerge documents share memory with
 * their successors: a superseded one still reports its old version but
 * snapshots the new content.) An empty delta or snapshot (length 0) is
 * always valid and means "nothing".
 */
export interface DocEngine<S = unknown> {
  readonly kind: DocKind;
  /** An empty document with a fresh writer identity from the injected Random. */
  create(): S;
  /**
   * A document from `snapshot()` output (or any full-state encoding), with a
   * fresh writer identity. Checked like a delta (limits included).
   */
  load(snapshot: Uint8Array): S;
  /**
   * Validates `delta` and applies it. Idempotent: applying a delta twice is a
   * no-op the second time (`changed: false`). Rejects deltas that would leave
   * the document waiting on dependencies it does not have.
   */
  apply(state: S, delta: Uint8Array, options?: ApplyOptions): { state: S; changed: boolean };
  /**
   * Optional, and never needed for correctness: does the document-free part
   * of checking `delta` (decoding, encoding checks) off the caller's thread,
   * so that a following apply() of this same Uint8Array (not mutated in
   * between) holds the thread for less. Never rejects: apply() reports
   * every refusal. With `state`, the document the delta is meant for, an
   * engine may also apply it to a copy off the thread; apply() then uses
   * that result only if `state` is still the document it is given, unchanged.
   */
  prepare?(delta: Uint8Array, options?: ApplyOptions, state?: S): Promise<void>;
  /**
   * Runs a local edit. `edit` receives the engine's editable view (a Y.Doc for
   * Yjs; a mutable draft for Automerge) and the delta it produced is returned;
   * `delta` is empty (length 0) when the edit changed nothing.
   * When `edit` throws: ConcordError("invalid_argument", details.reason
   * "edit_threw"), `damaged` if the engine could not undo what it did (Yjs).
   * An edit that breaks the limits throws invalid_update/too_large with
   * `damaged: true`: peers would reject its delta, so reload the document.
   */
  change(state: S, edit: (doc: any) => void): { state: S; delta: Uint8Array };
  /**
   * Applies JSON ops (json-ops.ts) as one edit, as change() does, and first
   * creates every container they need and the document lacks, the same way
   * in every region (container-ids.ts), so concurrent first writes into a new
   * list, map or counter all land in one object. An op that does not fit the
   * document throws invalid_argument naming the op (directly, or as the cause
   * of an "edit_threw" error); `damaged` as for change().
   */
  applyOps(state: S, ops: JsonOp[], scope: OpScope): { state: S; delta: Uint8Array };
  /**
   * Optional, like prepare(): may run `ops` on a copy of `state` off the
   * caller's thread, so that applyOps() of this same array (not mutated in
   * between) on this same, unchanged state holds the thread for less. Never rejects.
   */
  prepareOps?(state: S, ops: JsonOp[], scope: OpScope): Promise<void>;
  /**
   * Gives an empty document the initial shape `init` (a JSON object: maps,
   * lists, texts and scalars) with a change every region makes
   * byte-identically, so a document created in two regions at once with one
   * shape merges. Throws invalid_argument for a shape the engine cannot hold.
   */
  initialize(state: S, docId: string, init: { [key: string]: JsonValue }): { state: S; delta: Uint8Array };
  /** Compact full state, loadable by `load`. */
  snapshot(state: S): Uint8Array;
  /**
   * Changes whenever the content changes (Yjs: state vector plus delete set;
   * Automerge: sorted heads). Equal versions mean equal content.
   */
  version(state: S): Uint8Array;
  /**
   * A delta holding what a replica at `theirVersion` lacks (may be empty-ish but always applicable).
   * Versions naming history this replica does not have still get a diff that
   * makes the peer include this replica's state.
   */
  diff(state: S, theirVersion: Uint8Array): Uint8Array;
  /**
   * True when `state` holds everything a replica at `version` held (used for
   * read-your-writes tokens). Malformed `version` bytes throw invalid_update.
   */
  includes(state: S, version: Uint8Array): boolean;
  /** Canonical JSON value: map keys sorted, texts as strings, counters as numbers. Deterministic. */
  toJSON(state: S): unknown;
  /** A rough in-memory size, for the byte-bounded cache. */
  sizeEstimate(state: S): number;
  /**
   * False when `state` can no longer be used: its engine instance crashed
   * (Automerge: a wasm trap) and was replaced. Callers drop it and reload the
   * document from the store. Absent means always usable.
   */
  isLive?(state: S): boolean;
}
