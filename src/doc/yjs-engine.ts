/**
 * The Yjs engine: DocEngine over Y.Doc with V1 updates as deltas and
 * snapshots. Every delta is decoded and checked (yjs-update-check.ts) before
 * it reaches the live document, so a document never holds pending structs,
 * never nests deeper than limits.maxDepth and never half-applies an update.
 * Client ids come from the injected Random, never from Yjs's own generator.
 */
import * as Y from "yjs";
import type { DocEngine, EngineDeps } from "./engine.ts";
import type { Random } from "../runtime/random.ts";
import { isConcordError } from "../errors.ts";
import { assertWithinSize, editFailed, invalidUpdate, type RejectionReason } from "./engine-errors.ts";
import { resolveLimits } from "./limits.ts";
import { decodeYjsUpdate } from "./yjs-update-decoder.ts";
import { checkYjsUpdate } from "./yjs-update-check.ts";
import { decodeYjsVersion, encodeYjsVersion, trackYjsVersion, yjsIncludes } from "./yjs-version.ts";
import { yjsToJSON } from "./yjs-json.ts";
import { checkLocalNesting } from "./yjs-local-check.ts";
import { applyYjsOps } from "./yjs-json-ops.ts";
import { checkOpLimits } from "./json-ops.ts";
import { deterministicClientId } from "./container-ids.ts";
import { initialShapeOps, shapeKey } from "./initial-shape.ts";

const empty = new Uint8Array(0);

// Rough bytes of heap per struct (an Item with its ID and content objects), and of an empty Y.Doc with its
// store, share and observers: measured with 5,000 loaded documents after a full GC (4.6 KB each empty, ~210 B
// more per struct). 256 and 160 undercounted a cache of small documents ~8× (test/bench/startup.bench.ts).
const bytesPerStruct = 208;
const bytesPerDoc = 4608;

/**
 * Creates the Yjs engine. `deps.random` supplies client ids (uint32, never 0);
 * Yjs has no timestamps, so `deps.clock` is unused.
 */
export function createYjsEngine(deps: EngineDeps): DocEngine<Y.Doc> {
  const limits = resolveLimits(deps.limits);
  // Bytes of updates each document has taken in, for sizeEstimate.
  const contentBytes = new WeakMap<Y.Doc, number>();
  const addBytes = (doc: Y.Doc, n: number): void => void contentBytes.set(doc, (contentBytes.get(doc) ?? 0) + n);

  const newDoc = (): Y.Doc => {
    // A fixed guid: Yjs would otherwise draw one from its own randomness. Updates never carry it.
    const doc = new Y.Doc({ guid: "concord", gc: true });
    doc.clientID = newClientId(deps.random);
    trackYjsVersion(doc);
    return doc;
  };

  /** Checks then applies; the document is untouched when this throws without `damaged`. */
  const validateAndApply = (doc: Y.Doc, delta: Uint8Array): boolean => {
    let addsStructs: boolean;
    try {
      addsStructs = checkYjsUpdate(doc, decodeYjsUpdate(delta, limits.maxDepth), limits.maxDepth).addsStructs;
    } catch (error) {
      if (isConcordError(error)) throw error;
      // The check reads the document; anything else escaping it is a bug, reported as bad input.
      throw invalidUpdate("engine_error", "Yjs update could not be checked", { cause: error });
    }
    const clientID = doc.clientID;
    let deletes = false;
    try {
      doc.transact((transaction) => {
        Y.applyUpdate(doc, delta);
        deletes = transaction.deleteSet.clients.size > 0;
        keepFormattingAsApplied(doc, transaction);
      });
    } catch (cause) {
      throw invalidUpdate("engine_error", "Yjs failed to apply a checked update", { cause, damaged: true });
    }
    if (doc.store.pendingStructs !== null || doc.store.pendingDs !== null) {
      throw invalidUpdate("missing_dependencies", "Yjs parked part of a checked update", { damaged: true });
    }
    // Yjs swaps in a client id from its own randomness when an update reuses ours; take one from ours.
    if (doc.clientID !== clientID) doc.clientID = newClientId(deps.random);
    return addsStructs || deletes;
  };

  const engine: DocEngine<Y.Doc> = {
    kind: "yjs",

    create: newDoc,

    load(snapshot) {
      assertWithinSize(snapshot, limits.maxSnapshotBytes, "snapshot");
      const doc = newDoc();
      try {
        if (snapshot.length > 0) validateAndApply(doc, snapshot);
      } catch (error) {
        // The half-built document is dropped here, so there is nothing for the caller to discard.
        if (isConcordError(error) && error.details["damaged"] === true) {
          throw invalidUpdate(error.details["reason"] as RejectionReason, error.message, { cause: error.cause });
        }
        throw error;
      }
      addBytes(doc, snapshot.length);
      return doc;
    },

    apply(doc, delta, options = {}) {
      if (delta.length === 0) return { state: doc, changed: false };
      const maxBytes = options.sizeLimit === "snapshot" ? limits.maxSnapshotBytes : limits.maxDeltaBytes;
      assertWithinSize(delta, maxBytes, "delta");
      const changed = validateAndApply(doc, delta);
      if (changed) addBytes(doc, delta.length);
      return { state: doc, changed };
    },

    change(doc, edit) {
      let delta: Uint8Array = empty;
      let ours: Y.Transaction | null = null;
      const onUpdate = (update: Uint8Array, _origin: unknown, _doc: Y.Doc, transaction: Y.Transaction): void => {
        if (transaction === ours) delta = update;
      };
      doc.on("update", onUpdate);
      try {
        doc.transact((transaction) => {
          ours = transaction;
          edit(doc);
        });
      } catch (cause) {
        // Yjs has no rollback: whatever the edit did before throwing is in the document.
        throw editFailed(cause, delta.length > 0);
      } finally {
        doc.off("update", onUpdate);
      }
      if (delta.length === 0) return { state: doc, delta };
      // Peers would reject what breaks the limits, so the document must not keep it either.
      assertWithinSize(delta, limits.maxDeltaBytes, "local change", true);
      checkLocalNesting(doc, ours!, limits.maxDepth);
      addBytes(doc, delta.length);
      return { state: doc, delta };
    },

    applyOps(doc, ops, scope) {
      checkOpLimits(ops, limits);
      return engine.change(doc, (d: Y.Doc) => applyYjsOps(d, ops, scope));
    },

    initialize(doc, docId, init) {
      const ops = initialShapeOps(init, { nestedListsAndTexts: false, topLevelScalars: false });
      checkOpLimits(ops, limits);
      const initWriter = deterministicClientId("init", [docId, shapeKey(init)]);
      // Another region's creation with this shape already arrived: the same structs are here, and a second
      // run would add them again after the first.
      if (doc.store.clients.has(initWriter)) return { state: doc, delta: empty };
      return engine.change(doc, (d: Y.Doc) => applyYjsOps(d, ops, { docId, initWriter }));
    },

    snapshot: (doc) => Y.encodeStateAsUpdate(doc),

    version: (doc) => encodeYjsVersion(doc),

    diff(doc, theirVersion) {
      const { stateVectorBytes } = decodeYjsVersion(theirVersion);
      // Structs they lack, plus our whole delete set (a delete of something they have is news too).
      return Y.encodeStateAsUpdate(doc, stateVectorBytes);
    },

    includes: (doc, version) => yjsIncludes(doc, decodeYjsVersion(version)),

    toJSON: (doc) => yjsToJSON(doc),

    sizeEstimate(doc) {
      let structs = 0;
      for (const list of doc.store.clients.values()) structs += list.length;
      return bytesPerDoc + structs * bytesPerStruct + (contentBytes.get(doc) ?? 0);
    },
  };
  return engine;
}

/**
 * After a remote transaction Yjs tidies redundant text formatting by making
 * new local deletes: writes that no delta carries and no log persists, made
 * differently by replicas that have or have not called getText. apply()
 * applies the delta and nothing else, so the tidy-up is switched off for
 * `transaction` (afterTransaction runs after the observers ask for it and
 * before it happens). Only formatted texts ask, so plain text pays nothing.
 */
function keepFormattingAsApplied(doc: Y.Doc, transaction: Y.Transaction): void {
  for (const type of transaction.changed.keys()) {
    if (type instanceof Y.Text && type._hasFormatting) {
      doc.once("afterTransaction", (done: Y.Transaction) => {
        if (done === transaction) done._needFormattingCleanup = false;
      });
      return;
    }
  }
}

/** A uint32 client id other than 0, from the injected Random. */
function newClientId(random: Random): number {
  return 1 + random.int(0xffffffff);
}
