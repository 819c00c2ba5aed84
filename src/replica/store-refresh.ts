/**
 * Reloading a document that another process of this region wrote to the
 * shared store (a region of several processes on PostgreSQL: see
 * src/server/region-fanout.ts, which calls this when it hears of the write).
 *
 * The cached copy, if any, is dropped once its own writes are durable, and
 * the document is loaded again from the store; what the store's version has
 * that the dropped copy lacked is announced as a change of origin "remote":
 * subscribers (event streams, sockets) get it, gossip updates its digest
 * tree, and nothing is pushed to other regions (gossip pushes only "local"
 * changes: the writing process pushed it already). A document this process
 * does not hold is left alone: its next read loads the store's version.
 */
import { isConcordError } from "../errors.ts";
import { bytesEqual } from "../storage/bytes.ts";
import type { DocSlots } from "./doc-slots.ts";
import type { DocWriter } from "./doc-writer.ts";

export interface StoreRefreshDeps {
  slots: DocSlots;
  writer: DocWriter;
}

/** True when a cached copy of `id` was replaced by a newer one from the store (and the change announced). */
export async function refreshFromStore(deps: StoreRefreshDeps, id: string): Promise<boolean> {
  const { slots, writer } = deps;
  const cached = slots.cache.peek(id);
  if (!cached) return false;
  // Its own writes first: dropped before they are durable, the reload could miss them.
  for (let seen = cached.lastWrite; ; seen = cached.lastWrite) {
    await seen.catch(() => undefined);
    if (cached.lastWrite === seen) break;
  }
  if (slots.cache.peek(id) !== cached) return false; // reloaded, replaced or shredded meanwhile
  const before = cached.engine.version(cached.state);
  slots.retire(cached);
  let fresh;
  try {
    fresh = await slots.get(id);
  } catch (error) {
    // Shredded by the other process: its deletion reaches subscribers through the feed of that process's
    // region peers; here the next read says "deleted".
    if (isConcordError(error, "deleted") || isConcordError(error, "not_found")) return false;
    throw error;
  }
  if (fresh.handle.kind !== cached.handle.kind || bytesEqual(fresh.engine.version(fresh.state), before)) return false;
  writer.announceDurable(fresh, fresh.engine.diff(fresh.state, before), "remote");
  return true;
}
