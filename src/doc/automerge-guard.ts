/**
 * Wraps the Automerge engine so that an engine panic (see automerge-health.ts)
 * never reaches a caller as a 500 or as a "corrupt" document: a call into a
 * dead module, or one that traps, throws ConcordError("unavailable",
 * damaged), and a document made by a replaced instance is refused as stale
 * (isLive says so first, so replicas reload it instead of using it).
 */
import * as Automerge from "@automerge/automerge";
import type { DocEngine } from "./engine.ts";
import { automergeDead, engineDown, isWasmPanic, notePanic, staleDoc } from "./automerge-health.ts";

// Documents hold arbitrary JSON-like content; callers narrow it themselves.
type Doc = Automerge.Doc<any>;

/** Runs `call` unless the module is dead; a wasm trap or a terminated module inside it becomes a panic. */
export function underGuard<R>(call: () => R): R {
  if (automergeDead()) throw engineDown();
  try {
    return call();
  } catch (error) {
    // wasm-bindgen terminates the module on any exception out of wasm (a stack overflow's RangeError too),
    // whatever the caller wrapped it in: after an error, ask the module whether it still answers.
    if (!isWasmPanic(error) && moduleAnswers()) throw error;
    notePanic(error);
    throw engineDown(error);
  }
}

/** False when the module is terminated: a trivial call into it throws "Module terminated". */
function moduleAnswers(): boolean {
  try {
    Automerge.free(Automerge.init());
    return true;
  } catch (error) {
    return !isWasmPanic(error);
  }
}

/** `engine` with every method under the guard; `isLive` tells documents of the current instance apart. */
export function guardEngine(engine: DocEngine<Doc>, isLive: (doc: Doc) => boolean): DocEngine<Doc> {
  const onDoc = <A extends unknown[], R>(method: (doc: Doc, ...rest: A) => R) => (doc: Doc, ...rest: A): R => {
    if (!isLive(doc)) throw automergeDead() ? engineDown() : staleDoc();
    return underGuard(() => method(doc, ...rest));
  };
  return {
    kind: engine.kind,
    create: () => underGuard(() => engine.create()),
    load: (snapshot) => underGuard(() => engine.load(snapshot)),
    apply: onDoc(engine.apply),
    // Plain JS and a worker: nothing of this thread's wasm module is touched.
    ...(engine.prepare ? { prepare: engine.prepare } : {}),
    change: onDoc(engine.change),
    applyOps: onDoc(engine.applyOps),
    initialize: onDoc(engine.initialize),
    snapshot: onDoc(engine.snapshot),
    version: onDoc(engine.version),
    diff: onDoc(engine.diff),
    includes: onDoc(engine.includes),
    toJSON: onDoc(engine.toJSON),
    // Cache accounting must not throw: a dead document's size no longer matters, it is about to go.
    sizeEstimate(doc) {
      if (!isLive(doc) || automergeDead()) return 1024;
      try {
        return underGuard(() => engine.sizeEstimate(doc));
      } catch {
        return 1024; // it panicked: noted, and the document is dropped on its next use
      }
    },
    isLive: (doc) => isLive(doc) && !automergeDead(),
  };
}
