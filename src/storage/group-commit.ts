/**
 * Group commit: many concurrent appends become one durable store write. While
 * one batch is being written, new entries queue; the next batch takes them all
 * (up to `maxBatchBytes`). Each caller's promise resolves only once its
 * entries are durable.
 *
 * Entries may carry expectations (a conditional store write, see store.ts):
 * the batch expects, per key, what the first entry expecting it expected; an
 * entry expecting a key that an earlier entry of the same batch writes is
 * chained to that entry and adds nothing. When the store refuses the batch
 * with "conflict" (another process wrote one of those keys), the entries
 * expecting a failed key, and the extra writes in the same scope (a document:
 * see `scopeOf`), are dropped and their callers get the conflict; the rest
 * are written again at once. Entries chained to a dropped one are dropped
 * with it (they expect a key it failed on), and entries queued behind for
 * the same document expect what it would have written, so they conflict in
 * turn: the document's writer reloads it and retries (src/replica/doc-writer.ts).
 *
 * A failed store write fails only its batch: its callers get
 * ConcordError("unavailable"), `onDropped` hears of every scope it touched,
 * and the queue goes on (the next batch may find the store back). Its outcome
 * is unknown (a lost connection at COMMIT), and that is safe for entries with
 * expectations: the entries queued behind it for the same document expect
 * what it wrote, so they land if it did and conflict if it did not, never
 * leaving a gap. An entry without expectations that depends on a failed one
 * must not be queued (the document store expects on every document write).
 * A `beforeBatch` hook that throws fails only its batch's callers, with what
 * it threw; nothing of that batch reached the store.
 */
import { ConcordError, isConcordError } from "../errors.ts";
import { toHex } from "./bytes.ts";
import { conflictKeys } from "./store-expect.ts";
import type { Store, StoreExpectation, StoreWrite } from "./store.ts";

/** What beforeBatch adds to a batch: writes, and the expectations those writes need. */
export interface BatchExtra {
  writes: StoreWrite[];
  expect: StoreExpectation[];
}

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
  beforeBatch?: (drainsQueue: boolean, batch: readonly StoreWrite[]) => StoreWrite[] | BatchExtra;
  /** The unit a conflict drops together (a document's hash); undefined: the key alone. */
  scopeOf?: (key: Uint8Array) => string | undefined;
  /** Hears of the scopes whose entries a conflict or a failed write dropped, before their callers do. */
  onDropped?: (scopes: ReadonlySet<string>) => void;
}

interface Pending {
  writes: readonly StoreWrite[];
  expect: readonly StoreExpectation[];
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface GroupCommit {
  /**
   * Queues `writes` (kept atomic together), written only while `expect` holds
   * (see the header), and resolves when they are durable. Rejects with
   * "conflict" or "unavailable"; nothing of the entry was written on
   * "conflict", and it may or may not be there on "unavailable".
   */
  commit(writes: readonly StoreWrite[], expect?: readonly StoreExpectation[]): Promise<void>;
  /** Resolves once everything queued so far is durable (or failed). */
  drain(): Promise<void>;
  /** Store writes made so far, and batches a conflict made write again (for benchmarks and tests). */
  readonly stats: { batches: number; entries: number; conflicts: number };
}

/** The expectations of a batch: the first per key, none for a key an earlier entry writes. */
function mergeExpectations(parts: ReadonlyArray<{ writes: readonly StoreWrite[]; expect: readonly StoreExpectation[] }>): StoreExpectation[] {
  const written = new Set<string>();
  const expected = new Set<string>();
  const merged: StoreExpectation[] = [];
  for (const part of parts) {
    for (const e of part.expect) {
      const key = toHex(e.key);
      if (written.has(key) || expected.has(key)) continue;
      expected.add(key);
      merged.push(e);
    }
    for (const w of part.writes) written.add(toHex(w.key));
  }
  return merged;
}

export function createGroupCommit(store: Store, options: GroupCommitOptions = {}): GroupCommit {
  const maxBatchBytes = options.maxBatchBytes ?? 16 * 1024 * 1024;
  const scopeOf = options.scopeOf ?? (() => undefined);
  const queue: Pending[] = [];
  let running: Promise<void> | undefined;
  const stats = { batches: 0, entries: 0, conflicts: 0 };

  const scopesOf = (keys: Iterable<Uint8Array>): Set<string> => {
    const scopes = new Set<string>();
    for (const key of keys) scopes.add(scopeOf(key) ?? `key:${toHex(key)}`);
    return scopes;
  };

  /** Writes `batch` and `extra`, dropping what conflicts, until the rest is durable or the write fails. */
  const writeBatch = async (batch: Pending[], extra: BatchExtra) => {
    for (;;) {
      if (batch.length === 0) return;
      const parts = [...batch, extra];
      const writes = batch.length === 1 && extra.writes.length === 0 ? batch[0]!.writes : parts.flatMap((p) => p.writes);
      const expect = mergeExpectations(parts);
      try {
        await store.write(writes, expect.length > 0 ? { expect } : undefined);
        stats.batches++;
        stats.entries += writes.length;
        for (const p of batch) p.resolve();
        return;
      } catch (cause) {
        const failed = conflictKeys(cause);
        const failedHex = new Set(failed.map(toHex));
        const losers = batch.filter((p) => p.expect.some((e) => failedHex.has(toHex(e.key))));
        if (losers.length === 0) {
          // Not a conflict (or one on a key no entry expected: extra writes only): the whole batch fails.
          const error = isConcordError(cause, "conflict") || !isConcordError(cause)
            ? new ConcordError("unavailable", `a store write failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause })
            : cause;
          options.onDropped?.(scopesOf(parts.flatMap((p) => p.writes.map((w) => w.key))));
          for (const p of batch) p.reject(error);
          return;
        }
        stats.conflicts++;
        const dropped = scopesOf([...failed, ...losers.flatMap((p) => p.writes.map((w) => w.key))]);
        options.onDropped?.(dropped);
        for (const p of losers) p.reject(cause);
        batch = batch.filter((p) => !losers.includes(p));
        const keep = (key: Uint8Array) => !dropped.has(scopeOf(key) ?? `key:${toHex(key)}`);
        extra = { writes: extra.writes.filter((w) => keep(w.key)), expect: extra.expect.filter((e) => keep(e.key)) };
      }
    }
  };

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
      let extra: BatchExtra;
      try {
        const added = options.beforeBatch?.(queue.length === 0, batch.length === 1 ? batch[0]!.writes : batch.flatMap((p) => p.writes)) ?? [];
        extra = Array.isArray(added) ? { writes: added, expect: [] } : added;
      } catch (error) {
        // Nothing of this batch was written: fail its callers only, and keep the queue alive for later ones.
        for (const p of batch) p.reject(error);
        continue;
      }
      await writeBatch(batch, extra);
    }
    running = undefined;
  };

  return {
    stats,
    commit(writes, expect = []) {
      let bytes = 0;
      for (const w of writes) bytes += w.key.length + (w.value?.length ?? 0);
      return new Promise<void>((resolve, reject) => {
        queue.push({ writes, expect, bytes, resolve, reject });
        running ??= run();
      });
    },
    async drain() {
      while (running) await running;
    },
  };
}
