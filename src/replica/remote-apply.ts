/**
 * Writes that arrive from other regions (Replica.applyRemote): validated like
 * a client's before anything changes here, the document created if it is new.
 *
 * Kind conflicts. Two regions can create the same id with different kinds
 * before they hear of each other (or one region creates an id it has not yet
 * heard of: partitioned, rebuilt, restored from an older backup); the two
 * documents cannot merge. Every region applies one rule for the id: the kind
 * whose name sorts first wins ("automerge" before "yjs"). It needs no clock
 * and no coordination, and gives the same answer wherever and in whatever
 * order the two sides meet.
 *
 * Nothing of the losing copy is lost. A region holding it moves its whole
 * content into the conflict document `${id}~${losingKind}-conflict` (see
 * doc-id.ts; merged into it when it is there already) and swaps the id for an
 * empty document of the winning kind, which the winner's state then fills,
 * all in one store write (DocSlots.moveAside). The conflict document's id
 * and kind depend on nothing else, so every region's copies of it merge by
 * ordinary replication: this region pushes the move as its own change, and a
 * later delta of the losing kind for the id (from a region that has not
 * heard of the winner yet, or anti-entropy's whole state) is applied to the
 * conflict document instead. Writes acknowledged to the losing copy anywhere
 * end up there; the application decides what to do with them.
 *
 * A conflict document holds only the kind its name says: a delta of another
 * kind for it is rejected ("invalid_update", reason "conflicting_kind").
 *
 * Deletes win over conflicts too: deleting the id shreds its conflict
 * documents (Replica.shred), and content for a conflict document whose id is
 * deleted here is dropped, as for any deleted document. Only a valid delta
 * of the winning kind moves a document aside: a rejected one changes nothing.
 */
import type { DocEngine, DocKind } from "../doc/engine.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import { conflictBaseId, conflictDocId, conflictKind } from "./doc-id.ts";
import type { DocStore } from "../storage/doc-store.ts";
import type { DocSlots } from "./doc-slots.ts";
import { wholeStateChanges, type DocWriter } from "./doc-writer.ts";
import type { LoadedDoc } from "./loaded-doc.ts";
import type { InjectedBugs } from "./types.ts";

/** The kind two regions that created one id differently both end up with. */
export function winningKind(a: DocKind, b: DocKind): DocKind {
  return a <= b ? a : b;
}

export interface RemoteApplyDeps {
  slots: DocSlots;
  docs: DocStore;
  writer: DocWriter;
  engines: Record<DocKind, DocEngine<unknown>>;
  bugs: InjectedBugs;
}

type Outcome = { done: Promise<unknown> } | { kindHere: DocKind };

/**
 * Applies `delta` of a `kind` document from another region; resolves once
 * durable. False when the document (or, for a delta of a losing kind, its
 * conflict document) was shredded here. Throws the engine's rejection
 * (nothing changed), or "invalid_update" with reason "conflicting_kind" for a
 * conflict document of the other kind.
 */
export async function applyRemote(deps: RemoteApplyDeps, id: string, kind: DocKind, delta: Uint8Array): Promise<boolean> {
  const { applied, durable } = await applyRemoteStaged(deps, id, kind, delta);
  await durable;
  return applied;
}

/** What applyRemoteStaged did: applied in memory (false when shredded here), and when that is durable. */
export interface StagedApply {
  applied: boolean;
  /** Resolves once the write is durable; rejects when the store failed (the whole replica). */
  durable: Promise<unknown>;
}

const settled: Promise<unknown> = Promise.resolve();

/**
 * applyRemote without waiting for the disk: resolves once the delta is
 * applied in memory (and its append queued), so the next delta of the same
 * document can apply at once and a whole push is made durable by one group
 * commit instead of one fsync per entry. Nobody may be told "persisted"
 * before `durable` resolves.
 */
export async function applyRemoteStaged(deps: RemoteApplyDeps, id: string, kind: DocKind, delta: Uint8Array): Promise<StagedApply> {
  const { slots, writer } = deps;
  const announce = (doc: LoadedDoc) => writer.announceCreated(doc, "remote");
  const fixedKind = conflictKind(id);
  if (fixedKind !== undefined && fixedKind !== kind) {
    writer.counters.rejectedDeltas++;
    throw new ConcordError("invalid_update", `conflict document "${id}" holds ${fixedKind}, not ${kind}`, {
      details: { reason: "conflicting_kind" },
    });
  }
  // The document-free checks of a large delta run off the event loop first (DocEngine.prepare).
  await deps.engines[kind].prepare?.(delta, { sizeLimit: "snapshot" });
  try {
    const base = conflictBaseId(id);
    if (base !== undefined && (await deps.docs.isDeleted(base))) return { applied: false, durable: settled };
    for (;;) {
      let outcome: Outcome;
      try {
        outcome = await slots.write(id, (doc): Outcome => {
          if (doc.handle.kind !== kind) return { kindHere: doc.handle.kind };
          const applied = writer.applyFromRegion(doc, delta);
          if (!applied.changed) return { done: writer.durable(doc) };
          if (deps.bugs.skipRemotePersist) {
            writer.announceUnpersisted(doc, applied.delta);
            return { done: Promise.resolve() };
          }
          return { done: writer.persist(doc, applied.delta, "remote") };
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
        // Handled here too, so a caller that gives up on the group early leaves no unhandled rejection behind.
        outcome.done.catch(() => undefined);
        return { applied: true, durable: outcome.done };
      }
      const losing = kind === winningKind(outcome.kindHere, kind) ? outcome.kindHere : kind;
      // A delta of the losing kind belongs to the conflict document, like the rest of that kind's content.
      if (losing === kind) return await applyRemoteStaged(deps, conflictDocId(id, kind), kind, delta);
      // Only a delta that applies moves the document aside: a rejected one must change nothing (and spread nowhere).
      delta = firstDelta(deps, kind, delta);
      await slots.moveAside(id, losing, kind, conflictDocId(id, losing), (doc, kept) => {
        writer.counters.kindConflicts++;
        announce(doc);
        // This region's own change: pushed to every peer, so the conflict document reaches them even from here alone.
        if (kept) writer.announceDurable(kept.doc, kept.delta, "local");
      });
    }
  } catch (error) {
    if (isConcordError(error, "deleted")) return { applied: false, durable: settled };
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
    const changes = wholeStateChanges(engine, delta, engine.version(engine.create()));
    if (changes === undefined) {
      deps.writer.counters.rejectedDeltas++;
      throw rejection;
    }
    return changes;
  }
}
