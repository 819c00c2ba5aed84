/**
 * Simulated clients: they write to random documents of both kinds in random
 * regions — map sets, list inserts, text inserts and deletes, and (Automerge)
 * counter increments — and record every write the replica acknowledged. Each
 * map set and list insert carries a unique tag, so the checker can look for
 * every acknowledged write on every replica; counters have known totals.
 *
 * Containers are made once, when a document is created, before anyone
 * writes concurrently: two regions initialising the same Automerge key would
 * conflict and one side's content would vanish. Yjs root types are safe.
 */
import * as Automerge from "@automerge/automerge";
import type * as Y from "yjs";
import type { DocKind } from "../src/doc/engine.ts";
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
  at: number;
}

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

/** Creates a document with all its containers, in one region. */
export async function createDoc(replica: Replica, spec: DocSpec): Promise<void> {
  await replica.create(spec.id, spec.kind);
  if (spec.kind === "automerge") {
    await replica.change(spec.id, (d: Record<string, unknown>) => {
      d.m = {};
      d.l = [];
      d.t = "";
      d.c = new Automerge.Counter(0);
    });
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
  const kinds: OpKind[] = spec.kind === "automerge" ? ["map", "list", "text-insert", "text-delete", "counter"] : ["map", "list", "text-insert", "text-delete"];
  const kind = kinds[random.int(kinds.length)]!;
  const tag = `${region}/${n}`;
  const amount = 1 + random.int(5);
  const position = random.float();
  const char = letters[random.int(letters.length)]!;
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
    const ack = spec.kind === "yjs"
      ? await replica.change(spec.id, (doc: Y.Doc) => yjsEdit(doc, kind, tag, position, char))
      : await replica.change(spec.id, (doc: Record<string, any>) => automergeEdit(doc, kind, tag, position, char, amount));
    ledger.unanswered--;
    if (counter) {
      counter.uncertain -= amount;
      counter.acked += amount;
    }
    ledger.acked.push({ doc: spec.id, region, kind, ...(kind === "map" || kind === "list" ? { tag } : {}), at: now() });
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

function yjsEdit(doc: Y.Doc, kind: OpKind, tag: string, position: number, char: string): void {
  const text = doc.getText("t");
  switch (kind) {
    case "map":
      doc.getMap("m").set(tag, position);
      return;
    case "list":
      doc.getArray("l").insert(Math.floor(position * (doc.getArray("l").length + 1)), [tag]);
      return;
    case "text-insert":
      text.insert(Math.floor(position * (text.length + 1)), char);
      return;
    default:
      if (text.length > 0) text.delete(Math.floor(position * text.length), 1);
  }
}

function automergeEdit(doc: Record<string, any>, kind: OpKind, tag: string, position: number, char: string, amount: number): void {
  switch (kind) {
    case "map":
      doc.m[tag] = position;
      return;
    case "list":
      doc.l.insertAt(Math.floor(position * (doc.l.length + 1)), tag);
      return;
    case "text-insert":
      Automerge.splice(doc as Automerge.Doc<unknown>, ["t"], Math.floor(position * ((doc.t as string).length + 1)), 0, char);
      return;
    case "text-delete":
      if ((doc.t as string).length > 0) Automerge.splice(doc as Automerge.Doc<unknown>, ["t"], Math.floor(position * (doc.t as string).length), 1);
      return;
    case "counter":
      (doc.c as Automerge.Counter).increment(amount);
  }
}
