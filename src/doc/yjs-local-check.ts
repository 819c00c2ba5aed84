/**
 * Limits for local Yjs edits. A remote delta is checked before it is applied;
 * a local edit can only be looked at afterwards (it runs against the live
 * document), so this walks the structs the edit's transaction added and
 * reports a breach as damage: peers would reject the delta, so the document
 * must be reloaded rather than keep content nobody else can have.
 */
import * as Y from "yjs";
import { invalidUpdate } from "./engine-errors.ts";
import { yjsContentDepth, yjsTypeDepth } from "./yjs-depth.ts";

/** Throws ConcordError("invalid_update", damaged) when `transaction` nested too deep or made a subdocument. */
export function checkLocalNesting(doc: Y.Doc, transaction: Y.Transaction, maxDepth: number): void {
  for (const [client, after] of transaction.afterState) {
    const before = transaction.beforeState.get(client) ?? 0;
    if (after <= before) continue;
    const structs = doc.store.clients.get(client) ?? [];
    for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
      const struct = structs[i]!;
      if (!(struct instanceof Y.Item)) continue;
      if (struct.content instanceof Y.ContentDoc) {
        throw invalidUpdate("unsupported_content", "Yjs subdocuments are not supported", { damaged: true });
      }
      const contentDepth = yjsContentDepth(struct.content, maxDepth);
      if (contentDepth === 0 || !(struct.parent instanceof Y.AbstractType)) continue;
      if (yjsTypeDepth(struct.parent, maxDepth) + contentDepth > maxDepth) {
        throw invalidUpdate("too_deep", `local change nests deeper than ${maxDepth} levels`, { damaged: true });
      }
    }
  }
}
