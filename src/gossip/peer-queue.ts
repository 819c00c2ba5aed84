/**
 * One peer's outbound queue of durable local writes, bounded in bytes. When a
 * write does not fit, the queue drops everything and marks the peer for
 * repair: writes never block on a slow peer and memory never grows without
 * bound; anti-entropy brings the peer up to date instead.
 */
import type { PushEntry } from "./messages.ts";

export interface QueuedEntry {
  entry: PushEntry;
  bytes: number;
  /** The replica's local sequence of the write, for durability waiters. */
  localSeq: number;
  enqueuedAt: number;
}

export interface PeerQueue {
  /** Adds an entry; false when the queue overflowed and was dropped. */
  push(entry: QueuedEntry): boolean;
  /** The oldest entries up to `maxBytes` (at least one), left in place until acked. */
  peek(maxBytes: number): { entries: QueuedEntry[]; generation: number };
  /**
   * Drops every entry and marks the peer for repair, as an overflow does: for
   * a peer so far behind that one state per document (anti-entropy) costs
   * less than replaying its backlog write by write.
   */
  drop(): void;
  /** Removes the first `count` entries if the queue was not dropped since `generation`. */
  ack(generation: number, count: number): void;
  readonly length: number;
  readonly bytes: number;
  /** Enqueue time of the oldest entry, or undefined when empty. */
  readonly oldestAt: number | undefined;
  /** True once something was dropped and no anti-entropy round has repaired the peer since. */
  needsRepair: boolean;
  readonly dropped: number;
}

export function createPeerQueue(maxBytes: number): PeerQueue {
  let entries: QueuedEntry[] = [];
  let head = 0;
  let bytes = 0;
  let generation = 0;
  let dropped = 0;
  const dropAll = (extra: number) => {
    dropped += entries.length - head + extra;
    entries = [];
    head = 0;
    bytes = 0;
    generation++;
    queue.needsRepair = true;
  };
  const queue: PeerQueue = {
    needsRepair: false,
    drop: () => dropAll(0),
    push(entry) {
      if (bytes + entry.bytes > maxBytes) {
        dropAll(1);
        return false;
      }
      entries.push(entry);
      bytes += entry.bytes;
      return true;
    },
    peek(limit) {
      const out: QueuedEntry[] = [];
      let total = 0;
      for (let i = head; i < entries.length; i++) {
        const entry = entries[i]!;
        if (out.length > 0 && total + entry.bytes > limit) break;
        out.push(entry);
        total += entry.bytes;
      }
      return { entries: out, generation };
    },
    ack(at, count) {
      if (at !== generation) return;
      for (let i = 0; i < count && head < entries.length; i++) bytes -= entries[head++]!.bytes;
      // Compact now and then so the array does not keep acked entries alive.
      if (head > 1024 && head * 2 > entries.length) {
        entries = entries.slice(head);
        head = 0;
      }
    },
    get length() {
      return entries.length - head;
    },
    get bytes() {
      return bytes;
    },
    get oldestAt() {
      return entries[head]?.enqueuedAt;
    },
    get dropped() {
      return dropped;
    },
  };
  return queue;
}
