/**
 * The checker: what must hold once the faults stop. (1) Convergence: every
 * replica holds the same documents at equal versions with byte-identical
 * canonical JSON. (2) No acknowledged write lost: every tagged write is on
 * every replica, and every counter lies between its acknowledged total and
 * that plus the increments whose fate is unknown. (3) Liveness is judged by
 * the runner (time from the final heal to convergence). (4) Bounded memory:
 * per-peer queues and pending deltas within their configured bounds.
 * (5) Durability: each replica reopened from its disk alone holds what it held
 * in memory. (6) No rollback: a region that restarts serves every tagged write
 * it acknowledged, and after a rot nothing older than its disk held before the
 * damage (the runner checks at each restart: refusing a damaged document is
 * fine, serving an older one is not).
 *
 * Every check runs and reports everything it finds: one violation per region
 * (or document) and kind, its message previewing the first few affected items,
 * and `items` listing all of them, so the JSON result holds the whole picture.
 */
import { isConcordError } from "../src/errors.ts";
import type { Gossip } from "../src/gossip/gossip.ts";
import type { Replica } from "../src/replica/replica.ts";
import { workloadPaths, type AckedWrite, type WorkloadLedger } from "./workload.ts";

/** The value at `path` inside a JSON value, or undefined. */
function at(value: unknown, path: readonly string[]): unknown {
  let here = value;
  for (const key of path) {
    if (typeof here !== "object" || here === null || !Object.hasOwn(here, key)) return undefined;
    here = (here as Record<string, unknown>)[key];
  }
  return here;
}

export type ViolationKind = "divergence" | "lost-write" | "counter" | "liveness" | "memory" | "durability" | "rollback" | "error";

export interface Violation {
  kind: ViolationKind;
  message: string;
  /** Every affected item (documents, writes), when the message previews only some. */
  items?: string[];
}

/** How many affected items a message names before "…". */
const previewItems = 5;

/** "a, b, c" or "a, b, c, … (12 in all)": the message's view of a full list kept in `items`. */
export function preview(items: readonly string[], separator = ", "): string {
  const head = items.slice(0, previewItems).join(separator);
  return items.length > previewItems ? `${head}${separator}… (${items.length} in all)` : head;
}

/** Every document of one replica: id → canonical `{kind, version, value}` JSON. */
export type Contents = Map<string, string>;

/** Reads every document; one that cannot be read (a ConcordError) is recorded as `{"unreadable": code}`. */
export async function readContents(replica: Replica): Promise<Contents> {
  const out: Contents = new Map();
  for await (const id of replica.list()) {
    try {
      const view = await replica.read(id);
      out.set(id, JSON.stringify({ kind: view.kind, version: view.version, value: view.value }));
    } catch (error) {
      if (!isConcordError(error)) throw error;
      out.set(id, JSON.stringify({ unreadable: error.code }));
    }
  }
  return out;
}

/** Convergence: compares every region's contents with the first region's. */
export function checkConvergence(contents: ReadonlyMap<string, Contents>): Violation[] {
  const violations: Violation[] = [];
  const [first, ...rest] = [...contents];
  if (!first) return violations;
  const [baseName, base] = first;
  for (const [name, other] of rest) {
    const ids = new Set([...base.keys(), ...other.keys()]);
    const differing = [...ids].filter((id) => base.get(id) !== other.get(id)).sort();
    if (differing.length > 0) {
      violations.push({
        kind: "divergence",
        message: `${name} and ${baseName} differ on ${differing.length} document(s): ${preview(differing)}`,
        items: differing,
      });
    }
  }
  return violations;
}

/** Whether a document's JSON value holds a tagged write (a map key or list element). */
export function holdsWrite(value: unknown, write: AckedWrite): boolean {
  if (write.tag === undefined) return true;
  const container = at(value, write.container ?? [write.kind === "map" ? "m" : "l"]);
  return write.kind === "map"
    ? typeof container === "object" && container !== null && Object.hasOwn(container, write.tag)
    : Array.isArray(container) && container.includes(write.tag);
}

/** No acknowledged write lost, on any replica. */
export function checkAckedWrites(contents: ReadonlyMap<string, Contents>, ledger: WorkloadLedger): { violations: Violation[]; lost: number } {
  const violations: Violation[] = [];
  let lost = 0;
  for (const [region, docs] of contents) {
    const values = new Map<string, unknown>();
    const valueOf = (id: string) => {
      if (!values.has(id)) {
        const json = docs.get(id);
        values.set(id, json === undefined ? undefined : (JSON.parse(json) as { value: unknown }).value);
      }
      return values.get(id);
    };
    const missing: string[] = [];
    for (const write of ledger.acked) {
      if (write.tag === undefined) continue;
      if (!holdsWrite(valueOf(write.doc), write)) missing.push(`${write.kind} ${write.tag} in ${write.doc}${write.container ? ` at ${write.container.join(".")}` : ""}`);
    }
    lost = Math.max(lost, missing.length);
    if (missing.length > 0) {
      violations.push({ kind: "lost-write", message: `${region} lacks ${missing.length} acknowledged write(s): ${preview(missing, "; ")}`, items: missing });
    }
    for (const [doc, sum] of ledger.counters) {
      const found = at(valueOf(doc), [...workloadPaths.counter]);
      const total = typeof found === "number" ? found : 0;
      if (total < sum.acked || total > sum.acked + sum.uncertain) {
        violations.push({
          kind: "counter",
          message: `${region}: counter of ${doc} is ${total}, expected ${sum.acked}${sum.uncertain ? `..${sum.acked + sum.uncertain}` : ""}`,
        });
      }
    }
  }
  return { violations, lost };
}

export interface MemoryBounds {
  queueMaxBytes: number;
  pendingMaxBytes: number;
}

/** The largest per-peer queue and pending-delta figures of one gossip instance. */
export function memoryFigures(gossip: Gossip): { queueBytes: number; pendingBytes: number } {
  const stats = gossip.stats();
  const queueBytes = Math.max(0, ...Object.values(stats.peers).map((p) => p.queueBytes));
  return { queueBytes, pendingBytes: stats.pending.pendingBytes };
}

export function checkMemory(region: string, peak: { queueBytes: number; pendingBytes: number }, bounds: MemoryBounds): Violation[] {
  const out: Violation[] = [];
  if (peak.queueBytes > bounds.queueMaxBytes) {
    out.push({ kind: "memory", message: `${region}: a peer queue held ${peak.queueBytes} bytes (bound ${bounds.queueMaxBytes})` });
  }
  if (peak.pendingBytes > bounds.pendingMaxBytes) {
    out.push({ kind: "memory", message: `${region}: pending deltas held ${peak.pendingBytes} bytes (bound ${bounds.pendingMaxBytes})` });
  }
  return out;
}

/** Durability: what a replica serves from memory must be what its disk holds. */
export function checkDurability(region: string, inMemory: Contents, onDisk: Contents): Violation[] {
  const ids = new Set([...inMemory.keys(), ...onDisk.keys()]);
  const differing = [...ids].filter((id) => inMemory.get(id) !== onDisk.get(id)).sort();
  if (differing.length === 0) return [];
  return [{
    kind: "durability",
    message: `${region} reopened from its disk differs from what it served on ${differing.length} document(s): ${preview(differing)}`,
    items: differing,
  }];
}
