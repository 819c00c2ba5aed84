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

let beforeCall: ((method: string, args: readonly unknown[]) => void) | undefined;

/**
 * Tests only: `hook` runs inside the guard before every engine call, with the
 * method's name and its arguments after the document (a test makes one
 * document trap the engine on every load this way). Returns the undo.
 */
export function setAutomergeCallHookForTesting(hook: (method: string, args: readonly unknown[]) => void): () => void {
  beforeCall = hook;
  return () => {
    beforeCall = undefined;
  };
}

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
    // This call trapped (it did not merely meet a dead module): what it was given may be the cause.
    throw engineDown(error, true);
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
  const onDoc = <A extends unknown[], R>(name: string, method: (doc: Doc, ...rest: A) => R) => (doc: Doc, ...rest: A): R => {
    if (!isLive(doc)) throw automergeDead() ? engineDown() : staleDoc();
    return underGuard(() => {
      beforeCall?.(name, rest);
      return method(doc, ...rest);
    });
  };
  return {
    kind: engine.kind,
    create: () => underGuard(() => engine.create()),
    load: (snapshot) => underGuard(() => {
      beforeCall?.("load", [snapshot]);
      return engine.load(snapshot);
    }),
    apply: onDoc("apply", engine.apply),
    // Plain JS and a worker; with a live state, also a save of it (a trap there is noted like any other).
    ...(engine.prepare ? { prepare: guardPrepare(engine.prepare, isLive) } : {}),
    ...(engine.prepareOps ? { prepareOps: guardPrepareOps(engine.prepareOps, isLive) } : {}),
    change: onDoc("change", engine.change),
    applyOps: onDoc("applyOps", engine.applyOps),
    initialize: onDoc("initialize", engine.initialize),
    snapshot: onDoc("snapshot", engine.snapshot),
    version: onDoc("version", engine.version),
    diff: onDoc("diff", engine.diff),
    includes: onDoc("includes", engine.includes),
    toJSON: onDoc("toJSON", engine.toJSON),
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

/** prepare() given a state only while that state is of the live module: a dead one stays untouched. */
function guardPrepare(prepare: NonNullable<DocEngine<Doc>["prepare"]>, isLive: (doc: Doc) => boolean): NonNullable<DocEngine<Doc>["prepare"]> {
  return (delta, options, state) => {
    const usable = state !== undefined && isLive(state) && !automergeDead() ? state : undefined;
    return prepare(delta, options, usable);
  };
}

/** prepareOps() only on a state of the live module: with a dead one it does nothing (applyOps() reports it). */
function guardPrepareOps(prepareOps: NonNullable<DocEngine<Doc>["prepareOps"]>, isLive: (doc: Doc) => boolean): NonNullable<DocEngine<Doc>["prepareOps"]> {
  return async (state, ops, scope) => {
    if (isLive(state) && !automergeDead()) await prepareOps(state, ops, scope);
  };
}
