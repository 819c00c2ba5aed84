/**
 * Checks the ops of one Automerge change against the document's op index,
 * in order, recording each as it passes. Every reference must resolve to an
 * op of the right kind in the change's causal past (or earlier in the same
 * change): the object an op acts on was made by a make op, a list element
 * was inserted into that object, and each predecessor is a value at the same
 * key or element. These are the invariants Automerge relies on without
 * checking; breaking one panics inside wasm or makes later saves unloadable.
 */
import { invalidUpdate, type RejectionReason } from "./engine-errors.ts";
import { AutomergeOpIndex, opActions, opFlags, rootCounter, type IndexedOp, type OpAction } from "./automerge-op-index.ts";

const actionCodes = new Map<string, OpAction>(Object.entries(opActions) as Array<[string, OpAction]>);

/** Throws the invalid_update error for a rejected change. */
export function reject(reason: RejectionReason, message: string): never {
  throw invalidUpdate(reason, `Automerge change rejected: ${message}`);
}

const isValueAction = (action: number): boolean => action <= opActions.makeTable || action === opActions.set;

/** Checks the ops of one change, in order; see the file header. */
export class OpCheck {
  /** True once a mark op was seen. */
  hasMarks = false;
  private readonly found: IndexedOp = { flags: 0, objCounter: 0, objActor: 0, propA: 0, propB: 0 };
  private refCounter = 0;
  private refActor = 0;
  /** Set between a markBegin and the markEnd that must follow it. */
  private openMark: { objCounter: number; objActor: number } | null = null;

  constructor(
    private readonly index: AutomergeOpIndex,
    private readonly actor: number,
    private readonly startOp: number,
    private readonly pastMaxOp: number,
    private readonly maxDepth: number,
  ) {}

  /** Checks and records op number `counter` of the change. */
  op(op: Record<string, unknown>, counter: number): void {
    const action = typeof op["action"] === "string" ? actionCodes.get(op["action"]) : undefined;
    if (action === undefined) reject("malformed", `unknown action ${String(op["action"])}`);
    const isMake = action <= opActions.makeTable;
    const isMark = action === opActions.markBegin || action === opActions.markEnd;
    const insert = op["insert"] === true;

    // The object the op acts on: the root or an object some make op created.
    let objCounter = rootCounter;
    let objActor = 0;
    let objKind: number = opActions.makeMap;
    if (op["obj"] !== "_root") {
      this.resolve(op["obj"], counter, "object");
      objKind = this.found.flags & 0xf;
      if (objKind > opActions.makeTable) reject("malformed", `${String(op["obj"])} is not an object`);
      objCounter = this.refCounter;
      objActor = this.refActor;
    }
    const inSequence = objKind === opActions.makeList || objKind === opActions.makeText;
    this.checkMarkPairing(action, isMark, objKind, objCounter, objActor);

    // The key (maps) or list element (lists, texts) it targets.
    let flags: number = action;
    let propA = 0;
    let propB = 0;
    if (!inSequence) {
      if (typeof op["key"] !== "string" || op["elemId"] !== undefined || insert) reject("malformed", "a map op needs a key and nothing else");
      propA = this.index.keyId(op["key"]);
    } else {
      if (op["key"] !== undefined || typeof op["elemId"] !== "string") reject("malformed", "a list op needs an element id");
      flags |= opFlags.elementProp;
      if (insert) flags |= opFlags.insert;
      if (insert && (action === opActions.del || action === opActions.inc)) reject("malformed", "deletes and increments cannot insert");
      if (!insert && isMark) reject("malformed", "marks are always inserted");
      if (op["elemId"] === "_head") {
        if (!insert) reject("malformed", "only inserts may target the list head");
      } else {
        this.resolve(op["elemId"], counter, "element");
        const f = this.found;
        if ((f.flags & opFlags.insert) === 0 || f.objCounter !== objCounter || f.objActor !== objActor) {
          reject("malformed", `${op["elemId"]} is not an element of ${String(op["obj"])}`);
        }
        // Inserting after a mark boundary is normal; changing or deleting one is not.
        if (!insert && !isValueAction(f.flags & 0xf)) reject("malformed", `${op["elemId"]} is a mark, not a value`);
        propA = this.refCounter;
        propB = this.refActor;
      }
    }

    this.checkPredecessors(op["pred"], action, insert, inSequence, counter, objCounter, objActor, propA, propB);
    if (action === opActions.set && op["datatype"] === "counter") flags |= opFlags.counterValue;
    if (isMake && this.depthOf(objCounter, objActor) + 1 > this.maxDepth) {
      throw invalidUpdate("too_deep", `Automerge change nests deeper than ${this.maxDepth} levels`);
    }
    this.index.addOp(flags, objCounter, objActor, propA, propB);
  }

  /** Ends the change: a markBegin without its markEnd breaks later loads. */
  finish(): void {
    if (this.openMark !== null) reject("malformed", "mark begin without mark end");
  }

  /** Automerge writes a mark as a markBegin immediately followed by its markEnd, in a text. */
  private checkMarkPairing(action: number, isMark: boolean, objKind: number, objCounter: number, objActor: number): void {
    const open = this.openMark;
    if (open !== null) {
      if (action !== opActions.markEnd || open.objCounter !== objCounter || open.objActor !== objActor) {
        reject("malformed", "mark begin without mark end");
      }
      this.openMark = null;
      return;
    }
    if (!isMark) return;
    if (action === opActions.markEnd) reject("malformed", "mark end without mark begin");
    if (objKind !== opActions.makeText) reject("malformed", "marks belong in texts");
    this.openMark = { objCounter, objActor };
    this.hasMarks = true;
  }

  /** Predecessors: the values this op overwrites, deletes or increments, at the same key or element. */
  private checkPredecessors(
    pred: unknown,
    action: number,
    insert: boolean,
    inSequence: boolean,
    counter: number,
    objCounter: number,
    objActor: number,
    propA: number,
    propB: number,
  ): void {
    if (!Array.isArray(pred)) reject("malformed", "pred is not a list");
    if (insert && pred.length > 0) reject("malformed", "an insert has no predecessors");
    // Only a map key can be written fresh; a list element op always replaces its current value.
    if (pred.length === 0 && (action === opActions.del || action === opActions.inc || (inSequence && !insert))) {
      reject("malformed", "nothing to overwrite, delete or increment");
    }
    let counterTarget = false;
    // Most ops have at most one predecessor: no set to build for them.
    const seen = pred.length > 1 ? new Set<unknown>() : undefined;
    for (const id of pred) {
      if (seen !== undefined) {
        if (seen.has(id)) reject("malformed", "duplicate predecessor");
        seen.add(id);
      }
      this.resolve(id, counter, "predecessor");
      const f = this.found;
      const samePlace = !inSequence
        ? (f.flags & opFlags.elementProp) === 0 && f.propA === propA
        : (f.flags & opFlags.insert) !== 0
          ? this.refCounter === propA && this.refActor === propB
          : f.propA === propA && f.propB === propB;
      if (!isValueAction(f.flags & 0xf) || f.objCounter !== objCounter || f.objActor !== objActor || !samePlace) {
        reject("malformed", `predecessor ${String(id)} is not a value at the op's key or element`);
      }
      if ((f.flags & opFlags.counterValue) !== 0) counterTarget = true;
    }
    if (action === opActions.inc && !counterTarget) reject("malformed", "increment of something that is not a counter");
  }

  /** Parses an op id into refCounter/refActor and loads it into `found`; rejects what is not in the causal past. */
  private resolve(id: unknown, counter: number, what: string): void {
    if (typeof id !== "string") reject("malformed", `${what} id is not a string`);
    const at = id.indexOf("@");
    const refCounter = opCounter(id, at);
    const actor = refCounter === undefined ? undefined : this.actorAfter(id, at);
    if (refCounter === undefined || actor === undefined) reject("malformed", `${what} ${id} is not a known op id`);
    const inThisChange = actor === this.actor && refCounter >= this.startOp;
    if (refCounter >= counter || (!inThisChange && refCounter > this.pastMaxOp)) {
      reject("malformed", `${what} ${id} is not in the change's past`);
    }
    if (!this.index.find(refCounter, actor, this.found)) reject("malformed", `${what} ${id} does not exist`);
    this.refCounter = refCounter;
    this.refActor = actor;
  }

  /** The last few actors found, newest first: [hex, interned id] pairs. */
  private readonly recentActors: Array<[string, number]> = [];

  /**
   * The interned actor named after `at` in `id`. The ids of one change name
   * few actors (a text insert alternates between the text's maker and its
   * own): comparing with the recent ones avoids hashing a fresh
   * 64-character slice per reference.
   */
  private actorAfter(id: string, at: number): number | undefined {
    const hexLength = id.length - at - 1;
    for (const [hex, actor] of this.recentActors) if (hex.length === hexLength && id.endsWith(hex)) return actor;
    const hex = id.slice(at + 1);
    const actor = this.index.actorOf(hex);
    if (actor !== undefined) {
      this.recentActors.unshift([hex, actor]);
      if (this.recentActors.length > 4) this.recentActors.pop();
    }
    return actor;
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

/** The counter before `at` in an op id: 1 to 10 digits, no leading zero; undefined otherwise. */
function opCounter(id: string, at: number): number | undefined {
  if (at < 1 || at > 10 || id.charCodeAt(0) === 48) return undefined;
  let value = 0;
  for (let i = 0; i < at; i++) {
    const digit = id.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  return value;
}
