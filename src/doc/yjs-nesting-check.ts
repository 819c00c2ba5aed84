/**
 * Bounds nesting before a Yjs update is applied: finds, for every new item
 * whose content adds depth (a shared type, a JSON object or array), how deep
 * the type it lands in already is, in the document or in the update itself.
 * Text keystrokes add no depth and cost nothing here.
 */
import * as Y from "yjs";
import { malformed } from "./byte-reader.ts";
import { invalidUpdate } from "./engine-errors.ts";
import { contentRefs, structKinds, type DecodedSection, type DecodedStruct, type DecodedUpdate } from "./yjs-update-decoder.ts";
import { yjsTypeDepth } from "./yjs-depth.ts";

/**
 * Throws ConcordError("invalid_update", "too_deep") when a new item of
 * `update` would sit deeper than `maxDepth`. Call after the integration
 * check: it relies on the update's references being acyclic and resolvable.
 */
export function checkYjsNesting(doc: Y.Doc, update: DecodedUpdate, maxDepth: number): void {
  let resolver: ParentDepthResolver | undefined;
  for (const section of update.sections) {
    const known = Y.getState(doc.store, section.client);
    for (const struct of section.structs) {
      if (struct.contentDepth === 0 || struct.kind !== structKinds.item || struct.clock + struct.length <= known) continue;
      resolver ??= new ParentDepthResolver(doc, update, maxDepth);
      const parentDepth = resolver.parentDepth(struct);
      if (parentDepth !== null && parentDepth + struct.contentDepth > maxDepth) {
        throw invalidUpdate("too_deep", `update nests deeper than ${maxDepth} levels`);
      }
    }
  }
}

/**
 * Finds the depth of the shared type an item will land in: a root type is 1,
 * a type nested in it 2, and so on. Follows parent ids and, where the parent
 * is implied by a neighbour (origin, else right origin), that neighbour, into
 * the document or into the update itself. Memoised, so O(update) in total.
 */
class ParentDepthResolver {
  private readonly memo = new Map<DecodedStruct, number | null>();
  private readonly sections = new Map<number, DecodedSection>();
  private readonly maxSteps: number;

  constructor(
    private readonly doc: Y.Doc,
    update: DecodedUpdate,
    private readonly maxDepth: number,
  ) {
    let structs = 0;
    for (const section of update.sections) {
      this.sections.set(section.client, section);
      structs += section.structs.length;
    }
    this.maxSteps = structs + 1;
  }

  /** The parent's depth, or null when Yjs will turn the item into a GC struct (its parent is gone). */
  parentDepth(start: DecodedStruct): number | null {
    const visited: Array<{ struct: DecodedStruct; offset: number }> = [];
    let offset = 0;
    let current = start;
    let result: number | null;
    for (let steps = 0; ; steps++) {
      // The integration check already ruled out cycles; this only guards that claim.
      if (steps > this.maxSteps) malformed("parent chain does not end");
      const memoised = this.memo.get(current);
      if (memoised !== undefined) {
        result = memoised === null ? null : memoised + offset;
        break;
      }
      visited.push({ struct: current, offset });
      if (current.parentRoot) {
        result = 1 + offset;
        break;
      }
      const byId = current.parentClient >= 0;
      const client = byId ? current.parentClient : current.originClient >= 0 ? current.originClient : current.rightClient;
      const clock = byId ? current.parentClock : current.originClient >= 0 ? current.originClock : current.rightClock;
      const target = this.locate(client, clock);
      if (target === null) {
        result = null;
        break;
      }
      if (target instanceof Y.Item) {
        if (byId) {
          result = target.content instanceof Y.ContentType ? yjsTypeDepth(target.content.type, this.maxDepth) + offset : null;
        } else {
          const parent = target.parent;
          result = parent instanceof Y.AbstractType ? yjsTypeDepth(parent, this.maxDepth) + offset : null;
        }
        break;
      }
      // In this update: a parent id must name a shared type; a neighbour shares our parent.
      if (byId) {
        if (target.contentRef !== contentRefs.type) {
          result = null;
          break;
        }
        offset += 1;
        if (offset >= this.maxDepth) throw invalidUpdate("too_deep", `update nests deeper than ${this.maxDepth} levels`);
      }
      current = target;
    }
    for (const entry of visited) this.memo.set(entry.struct, result === null ? null : result - entry.offset);
    return result;
  }

  /** The item holding id (client, clock): a live Y.Item, an update struct, or null for GC'd/absent. */
  private locate(client: number, clock: number): Y.Item | DecodedStruct | null {
    if (clock < Y.getState(this.doc.store, client)) {
      const struct = Y.getItem(this.doc.store, Y.createID(client, clock)) as Y.Item | Y.GC;
      return struct instanceof Y.Item ? struct : null;
    }
    const section = this.sections.get(client);
    if (section === undefined) return null;
    const structs = section.structs;
    let low = 0;
    let high = structs.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const struct = structs[mid]!;
      if (clock < struct.clock) high = mid - 1;
      else if (clock >= struct.clock + struct.length) low = mid + 1;
      else return struct.kind === structKinds.item ? struct : null;
    }
    return null;
  }
}
