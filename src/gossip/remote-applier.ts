/**
 * Applies writes that arrive from other regions. A remote delta is validated
 * like a client's; one that only lacks dependencies still in flight (another
 * region's delta it builds on) waits here, outside the engine and never
 * persisted, bounded in bytes, and is retried whenever its document changes.
 * What overflows is dropped: anti-entropy repairs it.
 *
 * One document that cannot be written here (a corrupt record, say) fails its
 * own entries ("failed") and nobody else's: it must not stall every other
 * document behind it. Only a failure of the whole replica (closed, or a
 * store that stopped writing) is thrown, so the sender tries again later.
 */
import type { DocKind } from "../doc/engine.ts";
import { isConcordError } from "../errors.ts";
import { isDocFailure } from "./doc-failure.ts";
import type { Replica } from "../replica/replica.ts";
import type { PushEntry, PushStatus } from "./messages.ts";

interface Waiting {
  id: string;
  kind: DocKind;
  delta: Uint8Array;
}

export interface RemoteApplier {
  apply(entry: PushEntry): Promise<PushStatus>;
  /**
   * Applies a whole push: entries of one document in order, documents
   * concurrently, made durable together (one group commit, not one fsync
   * per entry). Each status is final: "persisted" only once durable.
   */
  applyAll(entries: readonly PushEntry[]): Promise<PushStatus[]>;
  /** Retries the deltas waiting on `id` after it changed. */
  retry(id: string): Promise<void>;
  readonly stats: { pendingDeltas: number; pendingBytes: number; droppedPending: number; rejected: number; failed: number };
}

export function createRemoteApplier(replica: Replica, pendingMaxBytes: number): RemoteApplier {
  const waiting = new Map<string, Waiting[]>();
  // Every waiting delta, oldest first (a Set iterates in insertion order), for dropping under pressure.
  // Holds exactly what `waiting` holds: a delta leaves both at once, so nothing applied stays reachable.
  const order = new Set<Waiting>();
  const stats = { pendingDeltas: 0, pendingBytes: 0, droppedPending: 0, rejected: 0, failed: 0 };

  const forget = (item: Waiting) => {
    if (!order.delete(item)) return;
    const list = waiting.get(item.id)!;
    list.splice(list.indexOf(item), 1);
    if (list.length === 0) waiting.delete(item.id);
    stats.pendingDeltas--;
    stats.pendingBytes -= item.delta.length;
  };

  const park = (item: Waiting) => {
    let list = waiting.get(item.id);
    if (!list) waiting.set(item.id, (list = []));
    list.push(item);
    order.add(item);
    stats.pendingDeltas++;
    stats.pendingBytes += item.delta.length;
    for (const oldest of order) {
      if (stats.pendingBytes <= pendingMaxBytes) break;
      forget(oldest);
      stats.droppedPending++;
    }
  };

  /** One attempt: applied in memory (its durability returned), missing dependencies (undefined), or a rejection thrown. */
  const attempt = async (item: Waiting): Promise<{ durable: Promise<unknown> } | undefined> => {
    try {
      return await replica.applyRemoteStaged(item.id, item.kind, item.delta);
    } catch (error) {
      if (isConcordError(error, "invalid_update") && error.details.reason === "missing_dependencies") return undefined;
      throw error;
    }
  };

  /** Applies what waits on `id` and now can; the durability of each one applied. */
  const retryStaged = async (id: string): Promise<Array<Promise<unknown>>> => {
    const durable: Array<Promise<unknown>> = [];
    for (let progress = true; progress; ) {
      progress = false;
      for (const item of [...(waiting.get(id) ?? [])]) {
        let applied: boolean;
        try {
          const done = await attempt(item);
          if (done) durable.push(done.durable);
          applied = done !== undefined;
        } catch {
          applied = true; // rejected for good: stop holding it
          stats.rejected++;
        }
        if (applied) {
          forget(item);
          progress = true;
        }
      }
    }
    return durable;
  };

  /** Applies one entry in memory: its status once `durable` all resolve. Throws only failures of the whole replica. */
  const stage = async (entry: PushEntry): Promise<{ status: PushStatus; durable: Array<Promise<unknown>> }> => {
    try {
      if ("deleted" in entry) {
        await replica.deleteRemote(entry.id);
        for (const item of [...(waiting.get(entry.id) ?? [])]) forget(item);
        return { status: "persisted", durable: [] };
      }
      const item = { id: entry.id, kind: entry.kind, delta: entry.delta };
      let done: { durable: Promise<unknown> } | undefined;
      try {
        done = await attempt(item);
      } catch (error) {
        if (isConcordError(error, "invalid_update") || isConcordError(error, "too_large")) {
          stats.rejected++;
          return { status: "rejected", durable: [] };
        }
        throw error;
      }
      if (!done) {
        park(item);
        return { status: "buffered", durable: [] };
      }
      const durable = waiting.has(entry.id) ? [done.durable, ...(await retryStaged(entry.id))] : [done.durable];
      return { status: "persisted", durable };
    } catch (error) {
      if (!isDocFailure(error)) throw error;
      stats.failed++;
      return { status: "failed", durable: [] };
    }
  };

  /** Waits for a staged entry's writes; a store failure is thrown, as it would have been unstaged. */
  const settle = async ({ status, durable }: { status: PushStatus; durable: Array<Promise<unknown>> }): Promise<PushStatus> => {
    try {
      await Promise.all(durable);
      return status;
    } catch (error) {
      if (!isDocFailure(error)) throw error;
      stats.failed++;
      return "failed";
    }
  };

  return {
    stats,
    retry: async (id) => {
      await Promise.all(await retryStaged(id));
    },
    apply: async (entry) => settle(await stage(entry)),
    async applyAll(entries) {
      // In order within a document, documents side by side: every append lands in the group commit's queue
      // before the first batch is written, so the whole push costs a few store writes, not one per entry.
      const byDoc = new Map<string, number[]>();
      entries.forEach((entry, i) => {
        const list = byDoc.get(entry.id);
        if (list) list.push(i);
        else byDoc.set(entry.id, [i]);
      });
      const staged = new Array<{ status: PushStatus; durable: Array<Promise<unknown>> }>(entries.length);
      await Promise.all([...byDoc.values()].map(async (indexes) => {
        for (const i of indexes) staged[i] = await stage(entries[i]!);
      }));
      return Promise.all(staged.map(settle));
    },
  };
}
