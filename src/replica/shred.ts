/**
 * Deleting a document (Replica.delete, Replica.deleteRemote): its data key is
 * destroyed under the document's gate, so no load can cache it again while or
 * after the store deletes it; deletion events go to gossip and subscribers.
 * Deleting an id also deletes what a kind conflict kept of it (its conflict
 * documents, see remote-apply.ts): deleted content stays deleted.
 */
import { docKinds } from "../doc/engine.ts";
import type { Clock } from "../runtime/clock.ts";
import type { DocStore } from "../storage/doc-store.ts";
import type { ChangeFeed } from "./change-feed.ts";
import { conflictDocId, conflictKind } from "./doc-id.ts";
import type { DocSlots } from "./doc-slots.ts";
import type { DocWriter } from "./doc-writer.ts";
import type { LoadedDoc } from "./loaded-doc.ts";

export interface ShredDeps {
  slots: DocSlots;
  docs: DocStore;
  feed: ChangeFeed;
  writer: DocWriter;
  clock: Clock;
}

/**
 * Shreds `id`; false if it was not here. A remote deletion leaves a tombstone even then, so the id cannot arrive later.
 * `check` (a conditional delete's) sees the document as it is once no write can come in before the shred, and may
 * throw to keep it; its conflict documents are then kept too.
 */
export async function shredDoc(
  deps: ShredDeps, id: string, origin: "local" | "remote", check?: (doc: LoadedDoc) => void,
): Promise<boolean> {
  const { slots, docs, feed, writer, clock } = deps;
  const deleted = await slots.shred(id, check, async () => {
    const deleted = await docs.delete(id, clock.now(), origin === "remote");
    if (deleted || origin === "remote") feed.emit({ type: "delete", id, origin, localSeq: writer.nextLocalSeq() });
    return deleted;
  });
  if (conflictKind(id) === undefined) {
    for (const kind of docKinds) {
      const conflictId = conflictDocId(id, kind);
      await slots.shred(conflictId, undefined, async () => {
        if (await docs.delete(conflictId, clock.now(), false)) feed.emit({ type: "delete", id: conflictId, origin, localSeq: writer.nextLocalSeq() });
      });
    }
  }
  return deleted;
}
