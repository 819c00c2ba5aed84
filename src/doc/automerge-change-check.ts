/**
 * Validation of Automerge changes before they reach a document. Automerge
 * checks the bytes of a change but trusts what it says: a change whose deps
 * are missing waits in the document forever, a reused seq number throws, an
 * op naming an unknown object or list element panics inside wasm (leaving a
 * half-applied change behind), and a dangling predecessor is silently kept
 * until the next save no longer loads. Here every change is decoded, ordered
 * after its dependencies, and each op's references are resolved in the
 * document's op index (automerge-op-index.ts) before anything is applied.
 */
import * as Automerge from "@automerge/automerge";
import { invalidUpdate, type RejectionReason } from "./engine-errors.ts";
import { AutomergeOpIndex, opActions, opFlags, rootCounter, type IndexedOp, type OpAction } from "./automerge-op-index.ts";

/** A change chunk with its decoded form. */
export interface IncomingChange {
  bytes: Uint8Array;
  decoded: Automerge.DecodedChange;
}

// Counters are stored as uint32; real documents stay far below.
const maxCounter = 0xfffffffe;

const actionCodes = new Map<string, OpAction>(Object.entries(opActions) as Array<[string, OpAction]>);

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
export function orderNewChanges(index: AutomergeOpIndex, changes: IncomingChange[]): IncomingChange[] {
  const fresh = new Map<string, IncomingChange>();
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
  const ordered: IncomingChange[] = [];
  const ready = [...fresh.keys()].filter((hash) => waitingOn.get(hash) === 0);
  while (ready.length > 0) {
    const hash = ready.shift()!;
    ordered.push(fresh.get(hash)!);
    for (const next of dependents.get(hash) ?? []) {
      const left = waitingOn.get(next)! - 1;
      waitingOn.set(next, left);
      if (left === 0) ready.push(next);
    }
  }
  // Hashes cover deps, so a cycle needs a hash collision; guard the claim anyway.
  if (ordered.length !== fresh.size) throw invalidUpdate("malformed", "changes depend on each other in a cycle");
  return ordered;
}

/**
 * Checks `change` against `index` and records it there. The caller wraps a
 * batch in index.begin()/commit() and rolls back when this throws
 * ConcordError("invalid_update") ("malformed", "conflicting_history",
 * "missing_dependencies" or "too_deep").
 */
export function indexChange(index: AutomergeOpIndex, change: Automerge.DecodedChange, maxDepth: number): void {
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
}

function reject(reason: RejectionReason, message: string): never {
  throw invalidUpdate(reason, `Automerge change rejected: ${message}`);
}

/** Checks the ops of one change, in order, and adds each to the index. */
class OpCheck {
  private readonly found: IndexedOp = { flags: 0, objCounter: 0, objActor: 0, propA: 0, propB: 0 };
  private refCounter = 0;
  private refActor = 0;

  constructor(
    private readonly index: AutomergeOpIndex,
    private readonly actor: number,
    private readonly startOp: number,
    private readonly pastMaxOp: number,
    private readonly maxDepth: number,
  ) {}

  op(op: Record<string, unknown>, counter: number): void {
    const action = typeof op["action"] === "string" ? actionCodes.get(op["action"]) : undefined;
    if (action === undefined) reject("malformed", `unknown action ${String(op["action"])}`);
    const isMake = action <= opActions.makeTable;
    const isMark = action === opActions.markBegin || action === opActions.markEnd;
    const insert = op["insert"] === true;

    // The object the op acts on: the root or an object some make op created.
    let objCounter = rootCounter;
    let objActor = 0;
    let inSequence = false;
    if (op["obj"] !== "_root") {
      this.resolve(op["obj"], counter, "object");
      const kind = this.found.flags & 0xf;
      if (kind > opActions.makeTable) reject("malformed", `${String(op["obj"])} is not an object`);
      objCounter = this.refCounter;
      objActor = this.refActor;
      inSequence = kind === opActions.makeList || kind === opActions.makeText;
    }

    // The key (maps) or list element (lists, texts) it targets.
    let flags: number = action;
    let propA = 0;
    let propB = 0;
    if (!inSequence) {
      if (typeof op["key"] !== "string" || op["elemId"] !== undefined || insert || isMark) {
        reject("malformed", "a map op needs a key and nothing else");
      }
      propA = this.index.keyId(op["key"]);
    } else {
      if (op["key"] !== undefined || typeof op["elemId"] !== "string") reject("malformed", "a list op needs an element id");
      flags |= opFlags.elementProp;
      if (insert) flags |= opFlags.insert;
      if (op["elemId"] === "_head") {
        if (!insert) reject("malformed", "only inserts may target the list head");
      } else {
        this.resolve(op["elemId"], counter, "element");
        const f = this.found;
        if ((f.flags & opFlags.insert) === 0 || f.objCounter !== objCounter || f.objActor !== objActor) {
          reject("malformed", `${op["elemId"]} is not an element of ${String(op["obj"])}`);
        }
        propA = this.refCounter;
        propB = this.refActor;
      }
      if (insert && (action === opActions.del || action === opActions.inc)) reject("malformed", "deletes and increments cannot insert");
      if (!insert && isMark) reject("malformed", "marks are always inserted");
    }

    // Predecessors: the values this op overwrites, deletes or increments, at the same key or element.
    const pred = op["pred"];
    if (!Array.isArray(pred)) reject("malformed", "pred is not a list");
    if (insert && pred.length > 0) reject("malformed", "an insert has no predecessors");
    if ((action === opActions.del || action === opActions.inc) && pred.length === 0) reject("malformed", "nothing to delete or increment");
    let counterTarget = false;
    const seen = new Set<string>();
    for (const id of pred) {
      if (seen.has(id)) reject("malformed", "duplicate predecessor");
      seen.add(id);
      this.resolve(id, counter, "predecessor");
      const f = this.found;
      const kind = f.flags & 0xf;
      const samePlace = !inSequence
        ? (f.flags & opFlags.elementProp) === 0 && f.propA === propA
        : (f.flags & opFlags.insert) !== 0
          ? this.refCounter === propA && this.refActor === propB
          : f.propA === propA && f.propB === propB;
      if ((kind > opActions.makeTable && kind !== opActions.set) || f.objCounter !== objCounter || f.objActor !== objActor || !samePlace) {
        reject("malformed", `predecessor ${String(id)} is not a value at the op's key or element`);
      }
      if ((f.flags & opFlags.counterValue) !== 0) counterTarget = true;
    }
    if (action === opActions.inc && !counterTarget) reject("malformed", "increment of something that is not a counter");
    if (action === opActions.set && op["datatype"] === "counter") flags |= opFlags.counterValue;

    if (isMake && this.depthOf(objCounter, objActor) + 1 > this.maxDepth) {
      throw invalidUpdate("too_deep", `Automerge change nests deeper than ${this.maxDepth} levels`);
    }
    this.index.addOp(flags, objCounter, objActor, propA, propB);
  }

  /** Parses an op id into refCounter/refActor and loads it into `found`; rejects what is not in the causal past. */
  private resolve(id: unknown, counter: number, what: string): void {
    if (typeof id !== "string") reject("malformed", `${what} id is not a string`);
    const at = id.indexOf("@");
    const digits = at > 0 ? id.slice(0, at) : "";
    const actor = this.index.actorOf(id.slice(at + 1));
    if (!/^[1-9][0-9]{0,9}$/.test(digits) || actor === undefined) reject("malformed", `${what} ${id} is not a known op id`);
    const refCounter = Number(digits);
    const inThisChange = actor === this.actor && refCounter >= this.startOp;
    if (refCounter >= counter || (!inThisChange && refCounter > this.pastMaxOp)) {
      reject("malformed", `${what} ${id} is not in the change's past`);
    }
    if (!this.index.find(refCounter, actor, this.found)) reject("malformed", `${what} ${id} does not exist`);
    this.refCounter = refCounter;
    this.refActor = actor;
  }

  /** Depth of an object: 0 for the root, one more per enclosing object. */
  private depthOf(objCounter: number, objActor: number): number {
    const parent: IndexedOp = { flags: 0, objCounter, objActor, propA: 0, propB: 0 };
    let depth = 0;
    while (parent.objCounter !== rootCounter && depth <= this.maxDepth) {
      depth++;
      if (!this.index.find(parent.objCounter, parent.objActor, parent)) break;
    }
    return depth;
  }
}
