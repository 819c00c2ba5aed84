/**
 * Simulated clients: they write to random documents of both kinds in random
 * regions — map sets and list pushes tagged per write, text inserts and
 * deletes, counter increments — and record every write the replica
 * acknowledged. Each map set and list push carries a unique tag, so the
 * checker can look for every acknowledged write on every replica; counters
 * have known totals.
 *
 * Writes go through the JSON ops real clients send (Replica.patch), and
 * nothing is set up in advance: the first write to a document in a region
 * creates it there (half of the documents with an initial shape), and the
 * first write to a container creates it, at depth 1 and 2, in whichever
 * regions get there first — concurrently, under partitions, as real
 * clients do. That is exactly where lost writes hide.
 */
import type { DocKind } from "../src/doc/engine.ts";
import type { JsonOp } from "../src/doc/json-ops.ts";
import { isConcordError } from "../src/errors.ts";
import type { Random } from "../src/runtime/random.ts";
import type { Replica } from "../src/replica/replica.ts";
import type { Trace } from "./trace.ts";

export type OpKind = "map" | "list" | "text-insert" | "text-delete" | "counter";

/** A write the replica acknowledged (its update/change promise resolved). */
export interface AckedWrite {
  doc: string;
  region: string;
  kind: OpKind;
  /** The map key / list element it added (map and list ops). */
  tag?: string;
  /** Where the map or list it wrote to sits in the document's JSON. */
  container?: string[];
  at: number;
  /** The version token the acknowledgement carried (what the region held right after the write). */
  version?: string;
}

/** Where each op writes: depth 1 and depth 2 containers, none of them made in advance. */
export const workloadPaths = {
  map: [["m"], ["n"]],
  list: [["l"], ["nl"]],
  text: ["t"],
  counter: ["c", "v"],
} as const;

/**
 * Depth-2 containers come in generations (one new name every few writes), so
 * containers keep being created for the first time all through the chaos
 * phase, under whatever partition holds then, not only at its start.
 */
const generationWrites = 20;
const generations = 6;

/**
 * Writes whose loss the checker sees: tagged map sets and list inserts, and counters (text edits carry
 * no tag). BUGGIFY spends its crashes on these; a new kind of write the checker can see belongs here.
 */
export const checkable = (kind: OpKind): boolean => kind === "map" || kind === "list" || kind === "counter";

export interface DocSpec {
  id: string;
  kind: DocKind;
  /** Where it is created. */
  home: string;
}

export interface WorkloadLedger {
  acked: AckedWrite[];
  attempted: number;
  /** Writes that failed with a ConcordError, by code. */
  failed: Record<string, number>;
  /** Writes never answered (their region crashed first) or not attempted (region down). */
  unanswered: number;
  skipped: number;
  /** Per counter document: acknowledged increments, and increments that may or may not have landed. */
  counters: Map<string, { acked: number; uncertain: number }>;
  /** Errors that are not ConcordErrors: bugs. */
  unexpected: string[];
}

export function docSpecs(count: number, regions: readonly string[]): DocSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `doc-${String(i).padStart(3, "0")}`,
    kind: i % 2 === 0 ? "yjs" : "automerge",
    home: regions[i % regions.length]!,
  }));
}

/** Shape of the documents created with one: some containers exist from the start. */
const initialShape = { l: [], m: {} };

/**
 * Makes sure `spec` exists in this region, creating it here if this region
 * has not heard of it yet (another region may be creating it at this moment).
 */
export async function ensureDoc(replica: Replica, spec: DocSpec, withShape: boolean): Promise<void> {
  try {
    await replica.create(spec.id, spec.kind, withShape ? { init: initialShape } : {});
  } catch (error) {
    if (!isConcordError(error, "exists")) throw error;
  }
}

export function createLedger(): WorkloadLedger {
  return { acked: [], attempted: 0, failed: {}, unanswered: 0, skipped: 0, counters: new Map(), unexpected: [] };
}

const letters = "abcdefghijklmnopqrstuvwxyz";

/**
 * Issues one random write in `region` and records its fate. Resolves when the
 * write is answered; a write whose region crashes is never answered.
 * `beforeWrite` hears the write's kind synchronously, before the replica sees
 * the write (BUGGIFY aims its crashes there: sim/buggify.ts).
 */
export async function issueWrite(
  replica: Replica, spec: DocSpec, region: string, n: number, random: Random, ledger: WorkloadLedger, trace: Trace,
  now: () => number, regionIndex: number, beforeWrite?: (kind: OpKind) => void,
): Promise<void> {
  const kinds: OpKind[] = ["map", "list", "text-insert", "text-delete", "counter"];
  const kind = kinds[random.int(kinds.length)]!;
  const tag = `${region}/${n}`;
  const amount = 1 + random.int(5);
  const position = random.float();
  const char = letters[random.int(letters.length)]!;
  const depth = random.int(2);
  const withShape = Number(spec.id.slice(-1)) % 2 === 0;
  ledger.attempted++;
  ledger.unanswered++;
  let counter: { acked: number; uncertain: number } | undefined;
  if (kind === "counter") {
    counter = ledger.counters.get(spec.id) ?? { acked: 0, uncertain: 0 };
    ledger.counters.set(spec.id, counter);
    counter.uncertain += amount;
  }
  trace.event("write", regionIndex, n, kinds.indexOf(kind));
  beforeWrite?.(kind);
  try {
    if (!(await exists(replica, spec.id))) await ensureDoc(replica, spec, withShape);
    const generation = `g${Math.floor(n / generationWrites) % generations}`;
    const { ops, container } = await opsFor(replica, spec, kind, { tag, amount, position, char, depth, generation });
    const ack = await replica.patch(spec.id, ops);
    ledger.unanswered--;
    if (counter) {
      counter.uncertain -= amount;
      counter.acked += amount;
    }
    ledger.acked.push({ doc: spec.id, region, kind, ...(kind === "map" || kind === "list" ? { tag, container } : {}), at: now(), version: ack.version });
    trace.event("ack", regionIndex, n, ack.version.length);
    trace.text(ack.version);
  } catch (error) {
    ledger.unanswered--;
    if (!isConcordError(error)) {
      ledger.unexpected.push(`${spec.id} ${kind} in ${region}: ${(error as Error)?.stack ?? String(error)}`);
      return;
    }
    ledger.failed[error.code] = (ledger.failed[error.code] ?? 0) + 1;
    trace.event("writeFailed", regionIndex, n);
  }
}

async function exists(replica: Replica, id: string): Promise<boolean> {
  try {
    await replica.read(id);
    return true;
  } catch (error) {
    if (isConcordError(error, "not_found")) return false;
    throw error;
  }
}

interface Draw {
  tag: string;
  amount: number;
  position: number;
  char: string;
  depth: number;
  generation: string;
}

/** The JSON ops of one write; text positions come from the text as this region holds it now. */
async function opsFor(replica: Replica, spec: DocSpec, kind: OpKind, draw: Draw): Promise<{ ops: JsonOp[]; container?: string[] }> {
  // Yjs maps hang under a root map; Automerge maps can sit at the top.
  const nested = (path: readonly string[]) => (draw.depth === 0 ? [...path] : [...path, draw.generation]);
  const mapPath: string[] = spec.kind === "yjs" && draw.depth === 0 ? ["m"] : nested(workloadPaths.map[draw.depth]!);
  const listPath: string[] = spec.kind === "yjs" ? ["l"] : nested(workloadPaths.list[draw.depth]!);
  switch (kind) {
    case "map":
      return { ops: [{ op: "set", path: [...mapPath, draw.tag], value: draw.position }], container: mapPath };
    case "list":
      return { ops: [{ op: "push", path: listPath, value: draw.tag }], container: listPath };
    case "counter":
      return { ops: [{ op: "increment", path: [...workloadPaths.counter], by: draw.amount }] };
    default: {
      const text = ((await replica.read(spec.id)).value as { t?: string }).t ?? "";
      const path = [...workloadPaths.text];
      if (kind === "text-insert") return { ops: [{ op: "insertText", path, index: Math.floor(draw.position * (text.length + 1)), text: draw.char }] };
      if (text.length === 0) return { ops: [{ op: "insertText", path, index: 0, text: draw.char }] };
      return { ops: [{ op: "deleteText", path, index: Math.floor(draw.position * text.length), length: 1 }] };
    }
  }
}
