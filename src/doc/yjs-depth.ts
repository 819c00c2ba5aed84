/**
 * Nesting depth of Yjs content: how deep a shared type sits (a root type is 1)
 * and how deep the content of an item reaches. Both the update check (before
 * applying) and local edits (after them) measure with these.
 */
import * as Y from "yjs";
import { jsonDepth } from "./json-depth.ts";

/** Depth of `type`: 1 for a root type, one more per enclosing type. Stops counting past `limit + 1`. */
export function yjsTypeDepth(type: Y.AbstractType<any>, limit: number): number {
  let depth = 1;
  let item = type._item;
  while (item !== null && depth <= limit) {
    depth++;
    const parent = item.parent;
    item = parent instanceof Y.AbstractType ? parent._item : null;
  }
  return depth;
}

/**
 * Nesting an item's content adds below its parent: 1 for a shared type, the
 * JSON depth of stored values, 0 for text and deleted content.
 */
export function yjsContentDepth(content: Y.Item["content"], limit: number): number {
  if (content instanceof Y.ContentType) return 1;
  if (content instanceof Y.ContentAny || content instanceof Y.ContentJSON || content instanceof Y.ContentEmbed) {
    return jsonDepth(content.getContent(), limit + 1) - 1;
  }
  if (content instanceof Y.ContentFormat) return jsonDepth(content.value, limit);
  return 0;
}
