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

  /** One attempt: persisted, missing dependencies (false), or a rejection thrown. */
  const attempt = async (item: Waiting): Promise<boolean> => {
    try {
      await replica.applyRemote(item.id, item.kind, item.delta);
      return true;
    } catch (error) {
      if (isConcordError(error, "invalid_update") && error.details.reason === "missing_dependencies") return false;
      throw error;
    }
  };

  const retry = async (id: string) => {
    for (let progress = true; progress; ) {
      progress = false;
      for (const item of [...(waiting.get(id) ?? [])]) {
        let applied: boolean;
        try {
          applied = await attempt(item);
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
  };

  return {
    stats,
    retry,
    async apply(entry) {
      try {
        if ("deleted" in entry) {
          await replica.deleteRemote(entry.id);
          for (const item of [...(waiting.get(entry.id) ?? [])]) forget(item);
          return "persisted";
        }
        const item = { id: entry.id, kind: entry.kind, delta: entry.delta };
        try {
          if (!(await attempt(item))) {
            park(item);
            return "buffered";
          }
        } catch (error) {
          if (isConcordError(error, "invalid_update") || isConcordError(error, "too_large")) {
            stats.rejected++;
            return "rejected";
          }
          throw error;
        }
        if (waiting.has(entry.id)) await retry(entry.id);
        return "persisted";
      } catch (error) {
        if (!isDocFailure(error)) throw error;
        stats.failed++;
        return "failed";
      }
    },
  };
}
