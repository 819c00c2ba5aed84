/**
 * Applies writes that arrive from other regions. A remote delta is validated
 * like a client's; one that only lacks dependencies still in flight (another
 * region's delta it builds on) waits here, outside the engine and never
 * persisted, bounded in bytes, and is retried whenever its document changes.
 * What overflows is dropped: anti-entropy repairs it.
 */
import type { DocKind } from "../doc/engine.ts";
import { isConcordError } from "../errors.ts";
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
  readonly stats: { pendingDeltas: number; pendingBytes: number; droppedPending: number; rejected: number };
}

export function createRemoteApplier(replica: Replica, pendingMaxBytes: number): RemoteApplier {
  const waiting = new Map<string, Waiting[]>();
  // Insertion order of waiting deltas, oldest first, for dropping under pressure.
  const order: Waiting[] = [];
  const stats = { pendingDeltas: 0, pendingBytes: 0, droppedPending: 0, rejected: 0 };

  const forget = (item: Waiting) => {
    const list = waiting.get(item.id);
    const at = list?.indexOf(item) ?? -1;
    if (at < 0) return;
    list!.splice(at, 1);
    if (list!.length === 0) waiting.delete(item.id);
    stats.pendingDeltas--;
    stats.pendingBytes -= item.delta.length;
  };

  const park = (item: Waiting) => {
    let list = waiting.get(item.id);
    if (!list) waiting.set(item.id, (list = []));
    list.push(item);
    order.push(item);
    stats.pendingDeltas++;
    stats.pendingBytes += item.delta.length;
    while (stats.pendingBytes > pendingMaxBytes && order.length > 0) {
      const oldest = order.shift()!;
      if (waiting.get(oldest.id)?.includes(oldest)) {
        forget(oldest);
        stats.droppedPending++;
      }
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
    },
  };
}
