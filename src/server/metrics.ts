/**
 * Prometheus metrics for one app, on its own prom-client Registry (never the
 * global one, so tests and the benchmark can run several apps in a process).
 * Request counts and latencies are recorded by middleware; replica and
 * replication figures are read from replica.stats() at scrape time.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { automergePanics } from "../doc/automerge-health.ts";
import type { Replica } from "../replica/replica.ts";
import type { PeerReplicationStats, ReplicationStats } from "../replica/types.ts";

export interface ServerMetrics {
  registry: Registry;
  /** Records one finished request. */
  observe(method: string, route: string, status: number, seconds: number): void;
}

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

export function createServerMetrics(replica: Replica, region: string): ServerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ region });
  const requests = new Counter({ name: "concord_http_requests_total", help: "HTTP requests by method, route and status", labelNames: ["method", "route", "status"], registers: [registry] });
  const latency = new Histogram({
    name: "concord_http_request_duration_seconds", help: "HTTP request latency", labelNames: ["method", "route"], registers: [registry],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  });

  // Replica figures: one gauge per numeric field of stats(), refreshed at scrape time.
  const replicaGauge = new Gauge({
    name: "concord_replica", help: "Replica figures from replica.stats() (cachedDocs, cacheBytes, storeBatches, rejectedDeltas, ...)",
    labelNames: ["stat"], registers: [registry],
    collect() {
      this.reset();
      for (const [stat, value] of Object.entries(replica.stats())) if (typeof value === "number") this.set({ stat }, value);
    },
  });
  void replicaGauge;

  const replication = (): ReplicationStats | undefined => replica.stats().replication;

  /** A gauge of one replication-wide figure, read at scrape time (absent without replication). */
  const replicationFigure = (name: string, help: string, pick: (r: ReplicationStats) => number | undefined) =>
    new Gauge({
      name, help, registers: [registry],
      collect() {
        const r = replication();
        const value = r && pick(r);
        if (value !== undefined) this.set(value);
      },
    });
  replicationFigure("concord_documents", "Documents known to this region (including tombstones), from the replication digest tree", (r) => r.documents);
  replicationFigure(
    "concord_antientropy_docs_skipped_total", "Documents anti-entropy left out because they failed to load here (e.g. a corrupt record): look at the logs",
    (r) => r.docsSkipped,
  );

  const docsRepaired = new Gauge({
    name: "concord_docs_repaired_total", help: "Damaged documents (records failing their checks) rewritten from a peer's whole state", registers: [registry],
    collect() {
      this.set(replica.stats().docsRepaired);
    },
  });
  void docsRepaired;

  // Secondary indexes: how many serve queries here, how many are being backfilled, and the backfill's progress.
  const indexStatus = () => {
    try {
      return replica.indexStatus();
    } catch {
      return undefined; // a replica opened without indexes
    }
  };
  const indexes = new Gauge({
    name: "concord_indexes", help: "Secondary indexes by state (ready: serving queries here; building: being backfilled)", labelNames: ["state"], registers: [registry],
    collect() {
      const status = indexStatus();
      this.set({ state: "ready" }, status?.ready.length ?? 0);
      this.set({ state: "building" }, status?.building.length ?? 0);
    },
  });
  void indexes;
  const backfilled = new Gauge({
    name: "concord_index_backfill_docs", help: "Documents re-indexed so far by the current (or last) index backfill", registers: [registry],
    collect() {
      this.set(indexStatus()?.docsDone ?? 0);
    },
  });
  void backfilled;

  const quarantined = new Gauge({
    name: "concord_docs_quarantined", help: "Documents refused for trapping their engine again and again (src/replica/doc-quarantine.ts)", registers: [registry],
    collect() {
      this.set(replica.stats().quarantinedDocs);
    },
  });
  void quarantined;

  const enginePanics = new Gauge({
    name: "concord_engine_panics_total", help: "Automerge engine panics (wasm traps) in this process, each followed by a rebuild of the engine",
    labelNames: ["engine"], registers: [registry],
    collect() {
      this.set({ engine: "automerge" }, automergePanics().count);
    },
  });
  void enginePanics;

  // Every per-peer replication stat: numbers become gauges, booleans 0/1.
  const peerFields = {
    up: "1 when the peer answers", queueEntries: "writes queued for eager push", queueBytes: "bytes queued for eager push",
    queueDropped: "queued writes dropped (repaired by anti-entropy)", needsRepair: "1 when the queue overflowed and awaits anti-entropy",
    lagMs: "age of the oldest write not yet acknowledged by the peer, ms", bytesSent: "frame bytes sent", bytesReceived: "frame bytes received",
    antiEntropyRounds: "anti-entropy rounds run with the peer", docsRepaired: "documents repaired by anti-entropy",
    countersSkipped: "times our frame counters to the peer skipped past frames it refused as replayed",
  } as const satisfies Partial<Record<keyof PeerReplicationStats, string>>;
  const peerStatNames = Object.keys(peerFields) as Array<keyof typeof peerFields>;
  const peerGauge = new Gauge({
    name: "concord_peer", help: `Replication per peer (stat: ${Object.keys(peerFields).join(", ")})`, labelNames: ["peer", "stat"], registers: [registry],
    collect() {
      this.reset();
      for (const [peer, s] of Object.entries(replication()?.peers ?? {})) {
        for (const stat of peerStatNames) this.set({ peer, stat }, typeof s[stat] === "boolean" ? (s[stat] ? 1 : 0) : num(s[stat]));
      }
    },
  });
  void peerGauge;
  const lastAck = new Gauge({
    name: "concord_peer_last_ack_timestamp_seconds", help: "When the peer last acknowledged a push", labelNames: ["peer"], registers: [registry],
    collect() {
      this.reset();
      for (const [peer, s] of Object.entries(replication()?.peers ?? {})) if (s.lastAckAt !== null) this.set({ peer }, s.lastAckAt / 1000);
    },
  });
  void lastAck;
  const rejected = new Gauge({
    name: "concord_frames_rejected_total", help: "Incoming gossip frames rejected, by claimed sender and reason", labelNames: ["peer", "reason"], registers: [registry],
    collect() {
      this.reset();
      const r = replication();
      for (const [peer, s] of Object.entries(r?.peers ?? {})) for (const [reason, n] of Object.entries(s.framesRejected)) this.set({ peer, reason }, num(n));
      for (const [reason, n] of Object.entries(r?.framesRejectedUnknown ?? {})) this.set({ peer: "unknown", reason }, num(n));
    },
  });
  void rejected;
  const pending = new Gauge({
    name: "concord_pending", help: "Remote deltas waiting for their dependencies", labelNames: ["stat"], registers: [registry],
    collect() {
      this.reset();
      for (const [stat, n] of Object.entries(replication()?.pending ?? {})) this.set({ stat }, num(n));
    },
  });
  void pending;

  // prom-client hashes the labels on every call; the children for a (method, route, status) are kept instead.
  const maxChildren = 1024;
  const children = new Map<string, { count: { inc(): void }; time: { observe(seconds: number): void } }>();
  return {
    registry,
    observe(method, route, status, seconds) {
      const key = `${method} ${status} ${route}`;
      let child = children.get(key);
      if (child === undefined) {
        child = { count: requests.labels({ method, route, status: String(status) }), time: latency.labels({ method, route }) };
        if (children.size < maxChildren) children.set(key, child);
      }
      child.count.inc();
      child.time.observe(seconds);
    },
  };
}
