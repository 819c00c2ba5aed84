/**
 * The Automerge engine: DocEngine over Automerge documents, with
 * concatenated change chunks as deltas and Automerge.save output as
 * snapshots. Every incoming change is decoded, ordered and checked against
 * the document's op index (automerge-change-check.ts) before it reaches the
 * live document, so a document never waits on missing changes, never holds
 * dangling references and never nests deeper than limits.maxDepth. Actor ids
 * come from the injected Random and change times from the injected Clock.
 *
 * Automerge documents are immutable values: apply() and change() return the
 * next document and the one passed in must not be used again.
 */
import * as Automerge from "@automerge/automerge";
import type { DocEngine, EngineDeps } from "./engine.ts";
import { isConcordError } from "../errors.ts";
import { assertWithinSize, editFailed, invalidUpdate, type RejectionReason } from "./engine-errors.ts";
import { resolveLimits } from "./limits.ts";
import { splitChangeChunks } from "./automerge-chunks.ts";
import { decodeChanges, indexChange, orderNewChanges, type IncomingChange } from "./automerge-change-check.ts";
import { createPreparedDeltas, type CheckedChange } from "./automerge-offload.ts";
import { createOffloadedApplies, loadOutcome, type ApplyOutcome } from "./automerge-apply-offload.ts";
import { applyInPlace, applyVerified } from "./automerge-apply-changes.ts";
import { createOffloadedOps } from "./automerge-ops-offload.ts";
import { checkCanonical } from "./automerge-canonical.ts";
import { AutomergeOpIndex } from "./automerge-op-index.ts";
import { decodeHeads, encodeHeads, sortedHeads } from "./automerge-heads.ts";
import { automergeToJSON } from "./automerge-json.ts";
import { applyAutomergeOps, type AutomergeOpsDeps } from "./automerge-json-ops.ts";
import { rootObjectId } from "./automerge-genesis.ts";
import { deterministicActor } from "./container-ids.ts";
import { initialShapeOps, shapeKey } from "./initial-shape.ts";
import { checkOpLimits } from "./json-ops.ts";
import { automergeGeneration } from "./automerge-health.ts";
import { guardEngine } from "./automerge-guard.ts";
import { precheckChanges, tooManyOps } from "./automerge-precheck.ts";
import { readLocalChange } from "./automerge-local-change.ts";

// Documents hold arbitrary JSON-like content; callers narrow it themselves.
type Doc = Automerge.Doc<any>;

const empty = new Uint8Array(0);

/** Creates the Automerge engine. */
export function createAutomergeEngine(deps: EngineDeps): DocEngine<Doc> {
  return createAutomergeEngineWithIndex(deps).engine;
}

/**
 * The engine and a look into its op index: what a worker applying a delta
 * for another thread hands back with the result (automerge-apply-offload.ts).
 */
export function createAutomergeEngineWithIndex(deps: EngineDeps): { engine: DocEngine<Doc>; indexOf(doc: Doc): AutomergeOpIndex } {
  const limits = resolveLimits(deps.limits);
  const prepared = createPreparedDeltas(deps.changeVerifier, limits);
  const offloaded = createOffloadedApplies(deps.changeVerifier, limits);
  const offloadedOps = createOffloadedOps(deps.changeVerifier, limits);
  // One op index per Automerge backend (shared by the successive immutable docs of one document).
  const indexes = new WeakMap<object, AutomergeOpIndex>();
  // The wasm instance (automerge-health.ts generation) each backend was made by.
  const born = new WeakMap<object, number>();
  const isLive = (doc: Doc): boolean => (born.get(Automerge.getBackend(doc)) ?? automergeGeneration()) === automergeGeneration();

  const newActor = (): string => {
    let hex = "";
    for (const byte of deps.random.bytes(16)) hex += byte.toString(16).padStart(2, "0");
    return hex;
  };

  const indexFor = (doc: Doc): AutomergeOpIndex => {
    const backend = Automerge.getBackend(doc);
    const headsKey = sortedHeads(doc).join();
    const known = indexes.get(backend);
    if (known !== undefined && known.headsKey === headsKey) return known;
    // Changed behind the engine's back (or never indexed): index it from scratch.
    let index: AutomergeOpIndex;
    try {
      index = buildIndex(doc, limits.maxDepth);
    } catch (error) {
      throw rethrowAs(error, true, "the document's own history does not validate");
    }
    indexes.set(backend, index);
    return index;
  };

  const remember = (doc: Doc, index: AutomergeOpIndex): void => {
    index.headsKey = sortedHeads(doc).join();
    const backend = Automerge.getBackend(doc);
    indexes.set(backend, index);
    if (!born.has(backend)) born.set(backend, automergeGeneration());
  };

  const create = (): Doc => {
    const doc: Doc = Automerge.init({ actor: newActor() });
    remember(doc, new AutomergeOpIndex());
    return doc;
  };

  const opsDeps: AutomergeOpsDeps = {
    apply: (doc, delta) => engine.apply(doc, delta).state,
    change: (doc, edit, actor) => (actor === undefined ? engine.change(doc, edit) : changeAs(doc, edit, actor)),
    creatorOf(doc, objId) {
      if (objId === rootObjectId) return undefined;
      const [counter, actor] = objId.split("@");
      const hash = indexFor(doc).changeHolding(Number(counter), actor!);
      if (hash === undefined) throw invalidUpdate("engine_error", `no change of this document made object ${objId}`);
      return hash;
    },
  };

  /** One change by `actor` at time 0: what every region makes alike from the same state (initial shapes). */
  const changeAs = (doc: Doc, edit: (draft: any) => void, actor: string): { state: Doc; delta: Uint8Array } => {
    const fork = Automerge.clone(doc, { actor });
    try {
      const changed = Automerge.change(fork, { time: 0 }, edit);
      const delta = Automerge.getLastLocalChange(changed) ?? empty;
      return { state: delta.length > 0 ? engine.apply(doc, delta).state : doc, delta };
    } catch (cause) {
      throw editFailed(cause, false);
    } finally {
      Automerge.free(fork);
    }
  };

  /** A worker's result for `doc` (automerge-apply-offload.ts), adopted with its index; undefined: work it out here. */
  const adopt = (doc: Doc, outcome: ApplyOutcome): { state: Doc; changed: boolean } | undefined => {
    const loaded = loadOutcome(doc, outcome);
    if (loaded?.index !== undefined) remember(loaded.state, loaded.index);
    return loaded;
  };

  const engine: DocEngine<Doc> = {
    kind: "automerge",

    create,

    load(snapshot) {
      assertWithinSize(snapshot, limits.maxSnapshotBytes, "snapshot");
      if (snapshot.length === 0) return create();
      let doc: Doc;
      try {
        // load() refuses changes whose dependencies are missing (allowMissingChanges is off).
        doc = Automerge.load(snapshot, { actor: newActor() });
      } catch (cause) {
        throw invalidUpdate("malformed", "Automerge snapshot does not load", { cause });
      }
      try {
        remember(doc, buildIndex(doc, limits.maxDepth));
      } catch (error) {
        Automerge.free(doc);
        throw rethrowAs(error, false, "Automerge snapshot holds invalid changes");
      }
      return doc;
    },

    apply(doc, delta, options = {}) {
      if (delta.length === 0) return { state: doc, changed: false };
      const elsewhere = offloaded.take(doc, delta, options);
      const adopted = elsewhere === undefined ? undefined : adopt(doc, elsewhere);
      if (adopted !== undefined) return adopted;
      const maxBytes = options.sizeLimit === "snapshot" ? limits.maxSnapshotBytes : limits.maxDeltaBytes;
      assertWithinSize(delta, maxBytes, "delta");
      const chunks = splitChangeChunks(delta);
      const maxOps = options.sizeLimit === "snapshot" ? undefined : limits.maxOpsPerDelta;
      // Budget and nesting from the raw bytes first: decoding alone takes seconds for a hostile delta.
      precheckChanges(chunks, maxOps, limits.maxDepth);
      // Decoded here, or read from a verdict that prepare() got off the main thread.
      const incoming: CheckedChange[] = prepared.decode(delta, chunks);
      if (maxOps !== undefined) assertOpBudget(incoming, maxOps);
      const index = indexFor(doc);
      const fresh = orderNewChanges(index, incoming);
      if (fresh.length === 0) return { state: doc, changed: false };
      // Changes the canonical check cannot re-encode, and text marks, are proven by a save and load instead.
      let verify = false;
      for (const change of fresh) {
        const canonical = change.canonical ?? checkCanonical(change.bytes, change.decoded) === "canonical";
        verify = !canonical || verify;
      }
      index.begin();
      try {
        for (const change of fresh) verify = indexChange(index, change.decoded, limits.maxDepth).hasMarks || verify;
      } catch (error) {
        index.rollback();
        throw rethrowAs(error, false, "Automerge change could not be checked");
      }
      const next = verify ? applyVerified(doc, fresh, index) : applyInPlace(doc, fresh, index);
      index.commit();
      remember(next, index);
      if (Automerge.getMissingDeps(next, []).length > 0) {
        throw invalidUpdate("missing_dependencies", "Automerge queued part of a checked delta", { damaged: true });
      }
      return { state: next, changed: true };
    },

    async prepare(delta, options, state) {
      // Applied elsewhere, every check included; else at least the byte checks are done off the thread.
      if (state !== undefined && (await offloaded.prepare(state, delta, options))) return;
      await prepared.prepare(delta, options);
    },

    change(doc, edit) {
      const index = indexFor(doc);
      const before = index.headsKey;
      let next: Doc;
      try {
        next = Automerge.change(doc, { time: Math.floor(deps.clock.now() / 1000) }, edit);
      } catch (cause) {
        // Automerge rolls the transaction back when the callback throws.
        throw editFailed(cause, false);
      }
      if (sortedHeads(next).join() === before) return { state: next, delta: empty };
      const delta = Automerge.getLastLocalChange(next) ?? empty;
      // The change is already in the document: breaking a limit means it must be reloaded.
      assertWithinSize(delta, limits.maxDeltaBytes, "local change", true);
      index.begin();
      try {
        indexChange(index, decodeLocal(next, delta), limits.maxDepth);
      } catch (error) {
        index.rollback();
        throw rethrowAs(error, true, "local Automerge change does not validate");
      }
      index.commit();
      remember(next, index);
      return { state: next, delta };
    },

    applyOps(doc, ops, scope) {
      const made = offloadedOps.take(doc, ops); // made on a worker's copy (automerge-ops-offload.ts)
      if (made?.index !== undefined) remember(made.state, made.index);
      if (made !== undefined) return { state: made.state, delta: made.delta };
      checkOpLimits(ops, limits);
      return applyAutomergeOps(doc, ops, scope, opsDeps);
    },

    prepareOps: (doc, ops, scope) => offloadedOps.prepare(doc, ops, scope, deps.clock.now()),

    initialize(doc, docId, init) {
      const ops = initialShapeOps(init, { nestedListsAndTexts: true, topLevelScalars: true });
      checkOpLimits(ops, limits);
      const initWriter = deterministicActor("init", [docId, shapeKey(init)]);
      // Another region's creation with this shape already arrived: its change is here, and a second
      // one by the same actor would add everything again.
      if (indexFor(doc).actorOf(initWriter) !== undefined) return { state: doc, delta: empty };
      return applyAutomergeOps(doc, ops, { docId, initWriter }, opsDeps);
    },

    snapshot: (doc) => Automerge.save(doc),

    version: (doc) => encodeHeads(sortedHeads(doc)),

    diff(doc, theirVersion) {
      // Heads we do not know are history we lack; everything after the known ones covers what they lack.
      const known = decodeHeads(theirVersion).filter((hash) => Automerge.hasHeads(doc, [hash]));
      return Automerge.saveSince(doc, known);
    },

    includes: (doc, version) => Automerge.hasHeads(doc, decodeHeads(version)),

    toJSON: (doc) => automergeToJSON(doc),

    sizeEstimate(doc) {
      const stats = Automerge.stats(doc);
      const index = indexes.get(Automerge.getBackend(doc));
      return 1024 + stats.numOps * 64 + stats.numChanges * 128 + (index?.byteSize() ?? 0);
    },
  };
  return { engine: guardEngine(engine, isLive), indexOf: indexFor };
}

/**
 * The change Automerge just made in `doc`, decoded for indexing: read in JS
 * (automerge-local-change.ts, a fraction of decodeChange's cost), or by
 * Automerge when that reader defers. A local change depends on every head
 * before it, so it is the document's only head now: that is its hash.
 */
function decodeLocal(doc: Doc, delta: Uint8Array): Automerge.DecodedChange {
  const heads = Automerge.getHeads(doc);
  let read: Automerge.DecodedChange | undefined;
  try {
    read = heads.length === 1 ? readLocalChange(delta, heads[0]!) : undefined;
  } catch {
    read = undefined; // Automerge wrote it, so Automerge decodes it
  }
  return read ?? Automerge.decodeChange(delta);
}

/** Indexes every change of `doc`, validating each as if it had just arrived. */
function buildIndex(doc: Doc, maxDepth: number): AutomergeOpIndex {
  const index = new AutomergeOpIndex();
  for (const change of orderNewChanges(index, decodeChanges(Automerge.getAllChanges(doc)))) {
    indexChange(index, change.decoded, maxDepth);
  }
  index.headsKey = sortedHeads(doc).join();
  return index;
}

/** A ConcordError from a check, re-raised with `damaged` set as given; anything else as engine_error. */
function rethrowAs(error: unknown, damaged: boolean, message: string): Error {
  if (isConcordError(error)) {
    if (!damaged || error.details["damaged"] === true) return error;
    return invalidUpdate(error.details["reason"] as RejectionReason, error.message, { cause: error.cause, damaged, details: { ...error.details } });
  }
  return invalidUpdate("engine_error", message, { cause: error, damaged });
}

/** A client delta's ops within budget (see EngineLimits.maxOpsPerDelta), as decoded: the precheck read the same columns. */
function assertOpBudget(changes: IncomingChange[], maxOps: number): void {
  let ops = 0;
  for (const change of changes) ops += change.decoded.ops.length;
  if (ops > maxOps) throw tooManyOps(ops, maxOps);
}
