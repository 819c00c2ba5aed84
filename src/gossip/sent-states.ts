/**
 * What this region last sent a peer of a document's content, so that the same
 * content does not cross twice when both regions run anti-entropy rounds with
 * each other at once (each on its own timer, or both when a fresh region
 * comes up). Both rounds find the same differing documents: the fresh region
 * pulls our states through its round's sync requests, and our round, seeing
 * those documents absent there, pushes the same states at it — measured in
 * the catch-up bench, 0.6–1.0 MB pushed on top of the 0.9 MB pulled.
 *
 * Gossip keeps two of these per peer: what our answers to its rounds carried
 * (our round then skips those documents) and what our rounds pushed (our
 * answers then leave the diff out). Each entry is (their state as they told
 * it, our version as we sent it), and covers the document only while the peer
 * still reports that state and we are still at that version: what it lacks is
 * exactly what is on its way. A skip costs at most one round's delay: an entry
 * is used once, expires after `ttlMs`, and the memory is bounded; if the
 * content was lost (the peer crashed, refused it), the next round finds the
 * document again.
 */
import type { Clock } from "../runtime/clock.ts";
import { bytesEqual } from "../storage/bytes.ts";
import type { DocState } from "./messages.ts";

interface Sent {
  theirs: DocState;
  ours: Uint8Array;
  at: number;
}

export interface SentStates {
  /** We answered `peer`'s sync for `id`, which it reported as `theirs`, with content up to our version `ours`. */
  record(peer: string, id: string, theirs: DocState, ours: Uint8Array): void;
  /**
   * True when `peer`, reporting `theirs` for `id`, was already sent everything up to `ours` (and forgets it:
   * one skip per answer).
   */
  covers(peer: string, id: string, theirs: DocState, ours: Uint8Array): boolean;
  /** Remembered answers (for tests). */
  size(): number;
}

/** At most this many remembered answers per peer; the oldest go first. */
export const maxSentPerPeer = 100_000;

function sameState(a: DocState, b: DocState): boolean {
  if (a.state !== b.state) return false;
  if (a.state !== "present" || b.state !== "present") return true;
  return a.kind === b.kind && bytesEqual(a.version, b.version);
}

export function createSentStates(clock: Clock, ttlMs: number, limit = maxSentPerPeer): SentStates {
  const byPeer = new Map<string, Map<string, Sent>>();
  return {
    record(peer, id, theirs, ours) {
      let sent = byPeer.get(peer);
      if (!sent) byPeer.set(peer, (sent = new Map()));
      sent.delete(id); // re-inserted last: Map order is the eviction order
      sent.set(id, { theirs, ours, at: clock.now() });
      if (sent.size > limit) sent.delete(sent.keys().next().value!);
    },
    covers(peer, id, theirs, ours) {
      const sent = byPeer.get(peer);
      const entry = sent?.get(id);
      if (!entry) return false;
      sent!.delete(id);
      return clock.now() - entry.at <= ttlMs && sameState(entry.theirs, theirs) && bytesEqual(entry.ours, ours);
    },
    size: () => {
      let n = 0;
      for (const sent of byPeer.values()) n += sent.size;
      return n;
    },
  };
}
