/**
 * Validation of Automerge changes before they reach a document. Automerge
 * checks the bytes of a change but trusts what it says: a change whose deps
 * are missing waits in the document forever, a reused seq number throws, an
 * op naming an unknown object or list element panics inside wasm (leaving a
 * half-applied change behind), and a dangling predecessor is silently kept
 * until the next save no longer loads. Here every change is decoded, ordered
 * after its dependencies, and each op's references are resolved in the
 * document's op index (automerge-op-check.ts) before anything is applied.
 */
import * as Automerge from "@automerge/automerge";
import { invalidUpdate } from "./engine-errors.ts";
import type { AutomergeOpIndex } from "./automerge-op-index.ts";
import { OpCheck, reject } from "./automerge-op-check.ts";

/** A change chunk with its decoded form. */
export interface IncomingChange {
  bytes: Uint8Array;
  decoded: Automerge.DecodedChange;
}

// Counters are stored as uint32; real documents stay far below.
const maxCounter = 0xfffffffe;

/** Decodes change chunks; anything Automerge cannot decode is "malformed". */
export function decodeChanges(chunks: Uint8Array[]): IncomingChange[] {
  return chunks.map((bytes) => {
    try {
      return { bytes, decoded: Automerge.decodeChange(bytes) };
    } catch (cause) {
      throw invalidUpdate("malformed", "Automerge change does not decode", { cause });
    }
  });
}

/**
 * The changes `index` does not hold yet, without duplicates, each after the
 * changes it depends on. Throws "missing_dependencies" when a dep is neither
 * indexed nor among `changes`.
 */
export function orderNewChanges<C extends IncomingChange>(index: AutomergeOpIndex, changes: C[]): C[] {
  const fresh = new Map<string, C>();
  for (const change of changes) {
    if (!index.knows(change.decoded.hash) && !fresh.has(change.decoded.hash)) fresh.set(change.decoded.hash, change);
  }
  const waitingOn = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const [hash, change] of fresh) {
    let waiting = 0;
    for (const dep of change.decoded.deps) {
      if (index.knows(dep)) continue;
      if (!fresh.has(dep)) {
        throw invalidUpdate("missing_dependencies", `change ${hash} depends on ${dep}, which is not here`, {
          details: { missing: [dep] },
        });
      }
      waiting++;
      const list = dependents.get(dep);
      if (list === undefined) dependents.set(dep, [hash]);
      else list.push(hash);
    }
    waitingOn.set(hash, waiting);
  }
  const ordered: C[] = [];
  const ready = [...fresh.keys()].filter((hash) => waitingOn.get(hash) === 0);
  // A cursor, not shift(): shifting a long array is linear each time, so a delta (or a document
  // being indexed) with many changes was ordered in quadratic time.
  for (let next = 0; next < ready.length; next++) {
    const hash = ready[next]!;
    ordered.push(fresh.get(hash)!);
    for (const dependent of dependents.get(hash) ?? []) {
      const left = waitingOn.get(dependent)! - 1;
      waitingOn.set(dependent, left);
      if (left === 0) ready.push(dependent);
    }
  }
  // Hashes cover deps, so a cycle needs a hash collision; guard the claim anyway.
  if (ordered.length !== fresh.size) throw invalidUpdate("malformed", "changes depend on each other in a cycle");
  return ordered;
}

/** What indexChange learned about a change. */
export interface IndexedChange {
  /** The change formats text: mark order is only checked by a save/load round trip. */
  hasMarks: boolean;
}

/**
 * Checks `change` against `index` and records it there. The caller wraps a
 * batch in index.begin()/commit() and rolls back when this throws
 * ConcordError("invalid_update") ("malformed", "conflicting_history",
 * "missing_dependencies" or "too_deep").
 */
export function indexChange(index: AutomergeOpIndex, change: Automerge.DecodedChange, maxDepth: number): IndexedChange {
  const { seq, startOp, ops, deps } = change;
  if (typeof change.actor !== "string" || !/^(?:[0-9a-f]{2})+$/.test(change.actor)) reject("malformed", "actor id is not hex");
  const actor = index.internActor(change.actor);
  if (!Number.isSafeInteger(seq) || seq !== index.lastSeq(actor) + 1) {
    reject("conflicting_history", `change ${seq} of actor ${change.actor} does not follow its change ${index.lastSeq(actor)}`);
  }
  if (!Number.isSafeInteger(startOp) || startOp < 1 || startOp <= index.lastMaxOp(actor)) {
    reject("conflicting_history", `change reuses op counters of actor ${change.actor}`);
  }
  if (!Array.isArray(ops) || startOp + ops.length - 1 > maxCounter) reject("malformed", "op counters out of range");
  // References may point into the causal past (counters up to the deps' highest) or earlier in this change.
  let pastMaxOp = 0;
  for (const dep of deps) {
    const depMaxOp = index.maxOpOf(dep);
    if (depMaxOp === undefined) reject("missing_dependencies", `dependency ${dep} is not in the document`);
    if (startOp <= depMaxOp) reject("conflicting_history", "op counters do not follow the change's dependencies");
    pastMaxOp = Math.max(pastMaxOp, depMaxOp);
  }
  index.addChange(change.hash, actor, startOp);
  const check = new OpCheck(index, actor, startOp, pastMaxOp, maxDepth);
  for (let i = 0; i < ops.length; i++) check.op(ops[i] as unknown as Record<string, unknown>, startOp + i);
  check.finish();
  return { hasMarks: check.hasMarks };
}
