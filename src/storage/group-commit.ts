/**
 * Group commit: many concurrent appends become one durable store write. While
 * one batch is being written, new entries queue; the next batch takes them all
 * (up to `maxBatchBytes`). Each caller's promise resolves only once its
 * entries are durable.
 *
 * A failed store write is fatal to the queue: later entries may depend on the
 * lost ones (a delta on the delta before it), so nothing more is written and
 * every caller gets ConcordError("unavailable") until the store is reopened.
 * A `beforeBatch` hook that throws is not: nothing of that batch reached the
 * store, so only its callers fail (with what the hook threw) and the queue
 * goes on. A hook whose failure would leave later entries dangling must not
 * throw (the document store's does not).
 */
import { ConcordError } from "../errors.ts";
import type { Store, StoreWrite } from "./store.ts";

export interface GroupCommitOptions {
  /** Upper bound on one store write, in bytes of keys plus values. Default 16 MiB. */
  maxBatchBytes?: number;
  /**
   * Called as each batch is cut, with whether it empties the queue and the
   * writes it holds; what it returns joins the batch (after those writes, so
   * it wins for a key written twice). Lets per-document summaries be written
   * once per batch, in the same atomic write as the appends they summarise.
   * If it throws, that batch's callers get the error and nothing of the batch
   * is written; later batches go on.
   */
  beforeBatch?: (drainsQueue: boolean, batch: readonly StoreWrite[]) => StoreWrite[];
}

interface Pending {
  writes: readonly StoreWrite[];
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface GroupCommit {
  /** Queues `writes` (kept atomic together) and resolves when they are durable. */
  commit(writes: readonly StoreWrite[]): Promise<void>;
  /** Resolves once everything queued so far is durable (or failed). */
  drain(): Promise<void>;
  /** Store writes made so far (for benchmarks and tests). */
  readonly stats: { batches: number; entries: number };
}

export function createGroupCommit(store: Store, options: GroupCommitOptions = {}): GroupCommit {
  const maxBatchBytes = options.maxBatchBytes ?? 16 * 1024 * 1024;
  const queue: Pending[] = [];
  let running: Promise<void> | undefined;
  let failure: ConcordError | undefined;
  const stats = { batches: 0, entries: 0 };

  const run = async () => {
    // Let writers of the same tick join the first batch.
    await Promise.resolve();
    while (queue.length > 0) {
      const batch: Pending[] = [];
      let bytes = 0;
      while (queue.length > 0 && (batch.length === 0 || bytes + queue[0]!.bytes <= maxBatchBytes)) {
        const next = queue.shift()!;
        batch.push(next);
        bytes += next.bytes;
      }
      let writes = batch.length === 1 ? batch[0]!.writes : batch.flatMap((p) => p.writes);
      try {
        const extra = options.beforeBatch?.(queue.length === 0, writes) ?? [];
        if (extra.length > 0) writes = [...writes, ...extra];
      } catch (error) {
        // Nothing of this batch was written: fail its callers only, and keep the queue alive for later ones.
        for (const p of batch) p.reject(error);
        continue;
      }
      try {
        await store.write(writes);
        stats.batches++;
        stats.entries += writes.length;
        for (const p of batch) p.resolve();
      } catch (cause) {
        failure = new ConcordError("unavailable", "a store write failed; the replica must be reopened", { cause });
        for (const p of [...batch, ...queue.splice(0)]) p.reject(failure);
      }
    }
    running = undefined;
  };

  return {
    stats,
    commit(writes) {
      if (failure) return Promise.reject(failure);
      let bytes = 0;
      for (const w of writes) bytes += w.key.length + (w.value?.length ?? 0);
      return new Promise<void>((resolve, reject) => {
        queue.push({ writes, bytes, resolve, reject });
        running ??= run();
      });
    },
    async drain() {
      while (running) await running;
    },
  };
}
