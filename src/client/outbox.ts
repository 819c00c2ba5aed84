/**
 * Writes made here that the region has not acknowledged, per document. Kept
 * in the replica itself, as a small Yjs document (so it is sealed at rest like
 * everything else and survives a reload), under an id the sync set never
 * includes. The writes themselves are already durable in the replica: the
 * outbox only counts them, and tells a reloaded client that it has something
 * to send (the catch-up round then sends it: what the region lacks).
 */
import type * as Y from "yjs";
import { isConcordError } from "../errors.ts";
import type { Replica } from "../replica/replica.ts";

/** Ids under this prefix are the client's bookkeeping, never synced. */
export const clientDocPrefix = "~concord-client/";
const outboxId = `${clientDocPrefix}outbox`;

export interface Outbox {
  /** Unacknowledged writes per document. */
  counts(): ReadonlyMap<string, number>;
  total(): number;
  /** One more local write of `id`. */
  add(id: string): Promise<void>;
  /** `n` writes of `id` are acknowledged (at least: the count never goes below 0); Infinity clears it. */
  settle(id: string, n: number): Promise<void>;
}

export async function openOutbox(replica: Replica, onChange: (total: number) => void): Promise<Outbox> {
  const counts = new Map<string, number>();
  try {
    const view = await replica.read(outboxId);
    for (const [id, n] of Object.entries(((view.value as { pending?: Record<string, unknown> }).pending) ?? {})) {
      if (typeof n === "number" && n > 0) counts.set(id, n);
    }
  } catch (error) {
    if (!isConcordError(error, "not_found")) throw error;
    await replica.create(outboxId, "yjs").catch((e: unknown) => {
      if (!isConcordError(e, "exists")) throw e;
    });
  }
  const total = () => [...counts.values()].reduce((a, b) => a + b, 0);
  // One write at a time, in order: the stored map follows the in-memory one.
  let chain = Promise.resolve();
  const store = (id: string) => {
    const n = counts.get(id) ?? 0;
    chain = chain.then(() => replica.change<Y.Doc>(outboxId, (doc) => {
      const map = doc.getMap("pending");
      if (n > 0) map.set(id, n);
      else map.delete(id);
    })).then(() => undefined);
    onChange(total());
    return chain;
  };
  return {
    counts: () => counts,
    total,
    add(id) {
      counts.set(id, (counts.get(id) ?? 0) + 1);
      return store(id);
    },
    settle(id, n) {
      const before = counts.get(id);
      if (before === undefined) return chain;
      const after = before - n;
      if (after > 0) counts.set(id, after);
      else counts.delete(id);
      return store(id);
    },
  };
}
