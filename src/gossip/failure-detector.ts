/**
 * Marks peers up or down from the outcome of every exchange (heartbeats and
 * ordinary traffic alike). A peer is down after `downAfterMs` without a
 * successful exchange and at least two failures in a row; one success brings
 * it back up.
 */
export interface PeerHealth {
  up: boolean;
  lastHeardAt: number | undefined;
  failures: number;
}

export interface FailureDetector {
  succeeded(peer: string, now: number): boolean;
  failed(peer: string, now: number): void;
  isUp(peer: string): boolean;
  health(peer: string): PeerHealth;
}

export function createFailureDetector(peers: readonly string[], downAfterMs: number, startedAt: number): FailureDetector {
  const health = new Map<string, PeerHealth & { since: number }>(
    peers.map((p) => [p, { up: true, lastHeardAt: undefined, failures: 0, since: startedAt }]),
  );
  const get = (peer: string) => health.get(peer) ?? { up: false, lastHeardAt: undefined, failures: 0, since: 0 };
  return {
    /** Returns true when the peer just came back up. */
    succeeded(peer, now) {
      const h = get(peer);
      const cameBack = !h.up;
      h.up = true;
      h.failures = 0;
      h.lastHeardAt = now;
      h.since = now;
      return cameBack;
    },
    failed(peer, now) {
      const h = get(peer);
      h.failures++;
      if (h.failures >= 2 && now - (h.lastHeardAt ?? h.since) >= downAfterMs) h.up = false;
    },
    isUp: (peer) => get(peer).up,
    health: (peer) => {
      const { up, lastHeardAt, failures } = get(peer);
      return { up, lastHeardAt, failures };
    },
  };
}
