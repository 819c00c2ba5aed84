/** What gossip keeps per peer: its push queue and backoff, traffic counters, and how they read in stats. */
import type { PeerReplicationStats } from "../replica/types.ts";
import type { PeerHealth } from "./failure-detector.ts";
import type { FrameRejection } from "./frame.ts";
import { createPeerQueue, type PeerQueue } from "./peer-queue.ts";

export interface PeerState {
  queue: PeerQueue;
  inFlight: boolean;
  /** A timer to retry after backoff is pending. */
  retryTimer: boolean;
  retryAt: number;
  backoffMs: number;
  lastAckAt: number | undefined;
  bytesSent: number;
  bytesReceived: number;
  rounds: number;
  repaired: number;
  /** Times our counters to this peer skipped past frames it refused as replayed. */
  countersSkipped: number;
}

export function createPeerState(queueMaxBytes: number, retryBaseMs: number): PeerState {
  return {
    queue: createPeerQueue(queueMaxBytes), inFlight: false, retryTimer: false, retryAt: 0, backoffMs: retryBaseMs,
    lastAckAt: undefined, bytesSent: 0, bytesReceived: 0, rounds: 0, repaired: 0, countersSkipped: 0,
  };
}

/** One peer's figures for Replica.stats().replication.peers. */
export function peerStats(s: PeerState, health: PeerHealth, rejected: Partial<Record<FrameRejection, number>>, now: number): PeerReplicationStats {
  return {
    up: health.up,
    queueEntries: s.queue.length,
    queueBytes: s.queue.bytes,
    queueDropped: s.queue.dropped,
    needsRepair: s.queue.needsRepair,
    lastAckAt: s.lastAckAt ?? null,
    lagMs: s.queue.oldestAt === undefined ? 0 : now - s.queue.oldestAt,
    bytesSent: s.bytesSent,
    bytesReceived: s.bytesReceived,
    framesRejected: rejected,
    antiEntropyRounds: s.rounds,
    docsRepaired: s.repaired,
    countersSkipped: s.countersSkipped,
  };
}
