/**
 * Writes that arrive from other regions (Replica.applyRemote): validated like
 * a client's before anything changes here, the document created if it is new.
 *
 * Kind conflicts. Two regions can create the same id with different kinds
 * before they hear of each other; the documents cannot merge. Every region
 * applies one rule: the kind whose name sorts first wins ("automerge" before
 * "yjs"). It needs no clock and no coordination, and gives the same answer
 * wherever and in whatever order the two sides meet. The losing kind's
 * document is replaced (its data key destroyed, as in a delete, but without a
 * tombstone) by an empty one of the winning kind, which the winner's state
 * then fills — from its eager push, or from anti-entropy, which sends a whole
 * state whenever the kinds differ. A delta of the losing kind is rejected
 * ("invalid_update", reason "conflicting_kind"). Writes made to the losing
 * document are lost: there is nothing they could merge into.
 */
import type { DocEngine, DocKind } from "../doc/engine.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import type { DocSlots } from "./doc-slots.ts";
import type { DocWriter } from "./doc-writer.ts";
import type { LoadedDoc } from "./loaded-doc.ts";
import type { InjectedBugs } from "./types.ts";

/** The kind two regions that created one id differently both end up with. */
export function winningKind(a: DocKind, b: DocKind): DocKind {
  return a <= b ? a : b;
}

export interface RemoteApplyDeps {
  slots: DocSlots;
  writer: DocWriter;
  engines: Record<DocKind, DocEngine<unknown>>;
  bugs: InjectedBugs;
}

type Outcome = { done: Promise<unknown> } | { kindHere: DocKind };

/**
 * Applies `delta` of a `kind` document from another region; resolves once
 * durable. False when the document was shredded here. Throws the engine's
 * rejection (nothing changed), or "invalid_update" with reason
 * "conflicting_kind" when this region's kind wins.
 */
export async function applyRemote(deps: RemoteApplyDeps, id: string, kind: DocKind, delta: Uint8Array): Promise<boolean> {
  const { slots, writer } = deps;
  const announce = (doc: LoadedDoc) => writer.announceCreated(doc, "remote");
  try {
    for (;;) {
      let outcome: Outcome;
      try {
        outcome = await slots.write(id, (doc): Outcome => {
          if (doc.handle.kind !== kind) return { kindHere: doc.handle.kind };
          if (!writer.apply(doc, delta, "region")) return { done: doc.lastWrite };
          if (deps.bugs.skipRemotePersist) {
            writer.announceUnpersisted(doc, delta);
            return { done: Promise.resolve() };
          }
          return { done: writer.persist(doc, delta, "remote") };
        });
      } catch (error) {
        if (!isConcordError(error, "not_found")) throw error;
        // Validate first: a delta that would be rejected must not leave a new, empty document behind.
        delta = firstDelta(deps, kind, delta);
        await slots.create(id, kind, announce).catch((e: unknown) => {
          if (!isConcordError(e, "exists")) throw e; // created meanwhile by someone else: apply to that one
        });
        continue;
      }
      if ("done" in outcome) {
        await outcome.done;
        return true;
      }
      if (winningKind(outcome.kindHere, kind) !== kind) {
        throw new ConcordError("invalid_update", `document "${id}" is ${outcome.kindHere} here, which wins over ${kind}`, {
          details: { reason: "conflicting_kind" },
        });
      }
      delta = firstDelta(deps, kind, delta);
      await slots.replace(id, kind, announce);
    }
  } catch (error) {
    if (isConcordError(error, "deleted")) return false;
    throw error;
  }
}

/**
 * `delta` in a form that applies to a new, empty document of `kind`: itself,
 * or, when it is a whole state the engine loads but does not apply (an
 * Automerge save, which anti-entropy sends to a region that lacks the
 * document), the changes that state holds. Throws the engine's rejection of
 * `delta` (as a delta: "missing_dependencies" stays recognisable); changes nothing.
 */
function firstDelta(deps: RemoteApplyDeps, kind: DocKind, delta: Uint8Array): Uint8Array {
  const engine = deps.engines[kind];
  try {
    engine.apply(engine.create(), delta, { sizeLimit: "snapshot" });
    return delta;
  } catch (rejection) {
    let state: unknown;
    try {
      state = engine.load(delta);
    } catch {
      deps.writer.counters.rejectedDeltas++;
      throw rejection;
    }
    return engine.diff(state, engine.version(engine.create()));
  }
}
