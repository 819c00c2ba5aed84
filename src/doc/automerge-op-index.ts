/**
 * A compact index of every operation in an Automerge document: for each op
 * id, what it does, which object it is in and which key or list element it
 * targets. Automerge trusts a change's references (object, list element,
 * predecessor ops); a dangling one panics inside wasm or, worse, is accepted
 * and makes every later save fail to load. With this index those references
 * are checked in O(log n) each before a change reaches the document.
 *
 * Memory is 20 bytes per op plus a little per change; it is built once when
 * a document is loaded and extended as changes are applied.
 */

/** Operation kinds, as stored (numbers fit the low 4 bits of the flags word). */
export const opActions = {
  makeMap: 0,
  makeList: 1,
  makeText: 2,
  makeTable: 3,
  set: 4,
  del: 5,
  inc: 6,
  markBegin: 7,
  markEnd: 8,
} as const;
export type OpAction = (typeof opActions)[keyof typeof opActions];

/** Flag bits above the action. */
export const opFlags = {
  insert: 1 << 4,
  /** The op targets a list element (its prop words hold an element id), not a map key. */
  elementProp: 1 << 5,
  /** A `set` whose value is a counter: what `inc` ops may target. */
  counterValue: 1 << 6,
} as const;

const stride = 5; // flags, objCounter, objActor, propA (key id | elem counter), propB (elem actor)
/** Counter 0 stands for the root object and for the list head. */
export const rootCounter = 0;

interface ActorLog {
  readonly hex: string;
  /** Per change, in seq order: first op counter, number of ops, offset of its first op in `ops`. */
  startOps: number[];
  opCounts: number[];
  offsets: number[];
  /** Per change, in seq order: its hash. */
  hashes: string[];
  ops: Uint32Array;
  used: number;
}

/**
 * An index as plain data (structured-cloneable): what a worker that applied
 * changes to its copy of a document hands back with it (automerge-apply-offload.ts).
 */
export interface OpIndexState {
  actors: Array<{ hex: string; startOps: number[]; opCounts: number[]; offsets: number[]; hashes: string[]; ops: Uint32Array }>;
  keys: string[];
  headsKey: string;
}

/** One op as read back from the index. */
export interface IndexedOp {
  flags: number;
  objCounter: number;
  objActor: number;
  propA: number;
  propB: number;
}

interface Checkpoint {
  readonly hashes: string[];
  readonly actorLengths: Map<number, { changes: number; used: number }>;
}

/** The op index of one document; see the file header. Not thread-safe, not shared between documents. */
export class AutomergeOpIndex {
  private readonly actorIds = new Map<string, number>();
  private readonly actors: ActorLog[] = [];
  private readonly changes = new Map<string, { actor: number; seq: number }>();
  private readonly keyIds = new Map<string, number>();
  private checkpoint: Checkpoint | null = null;
  private current: { actor: ActorLog; index: number } | null = null;

  /** Sorted heads the index was last known to match (set by the engine). */
  headsKey = "";

  knows(hash: string): boolean {
    return this.changes.has(hash);
  }

  actorOf(hex: string): number | undefined {
    return this.actorIds.get(hex);
  }

  internActor(hex: string): number {
    let id = this.actorIds.get(hex);
    if (id === undefined) {
      id = this.actors.length;
      this.actors.push({ hex, startOps: [], opCounts: [], offsets: [], hashes: [], ops: new Uint32Array(16 * stride), used: 0 });
      this.actorIds.set(hex, id);
    }
    return id;
  }

  keyId(key: string): number {
    let id = this.keyIds.get(key);
    if (id === undefined) {
      id = this.keyIds.size;
      this.keyIds.set(key, id);
    }
    return id;
  }

  /** Number of changes indexed for `actor` (its last seq). */
  lastSeq(actor: number): number {
    return this.actors[actor]!.startOps.length;
  }

  /** Highest op counter `actor` has used, 0 if none. */
  lastMaxOp(actor: number): number {
    const log = this.actors[actor]!;
    const n = log.startOps.length;
    return n === 0 ? 0 : log.startOps[n - 1]! + log.opCounts[n - 1]! - 1;
  }

  /** Highest op counter of the change `hash`, or undefined when it is not indexed. */
  maxOpOf(hash: string): number | undefined {
    const where = this.changes.get(hash);
    if (where === undefined) return undefined;
    const log = this.actors[where.actor]!;
    return log.startOps[where.seq - 1]! + log.opCounts[where.seq - 1]! - 1;
  }

  /** Starts recording changes that may be rolled back. */
  begin(): void {
    this.checkpoint = { hashes: [], actorLengths: new Map() };
  }

  /** Keeps everything recorded since begin(). */
  commit(): void {
    this.checkpoint = null;
  }

  /** Forgets everything recorded since begin(). */
  rollback(): void {
    const checkpoint = this.checkpoint;
    this.checkpoint = null;
    this.current = null;
    if (checkpoint === null) return;
    for (const hash of checkpoint.hashes) this.changes.delete(hash);
    for (const [actor, lengths] of checkpoint.actorLengths) {
      const log = this.actors[actor]!;
      log.startOps.length = lengths.changes;
      log.opCounts.length = lengths.changes;
      log.offsets.length = lengths.changes;
      log.hashes.length = lengths.changes;
      log.used = lengths.used;
    }
  }

  /** Opens the next change of `actor`; ops follow through addOp(). The caller has checked seq and startOp. */
  addChange(hash: string, actor: number, startOp: number): void {
    const log = this.actors[actor]!;
    if (this.checkpoint !== null && !this.checkpoint.actorLengths.has(actor)) {
      this.checkpoint.actorLengths.set(actor, { changes: log.startOps.length, used: log.used });
    }
    this.checkpoint?.hashes.push(hash);
    log.startOps.push(startOp);
    log.opCounts.push(0);
    log.offsets.push(log.used);
    log.hashes.push(hash);
    this.changes.set(hash, { actor, seq: log.startOps.length });
    this.current = { actor: log, index: log.startOps.length - 1 };
  }

  /** Appends the next op of the open change. */
  addOp(flags: number, objCounter: number, objActor: number, propA: number, propB: number): void {
    const current = this.current!;
    const log = current.actor;
    if ((log.used + 1) * stride > log.ops.length) {
      const grown = new Uint32Array(log.ops.length * 2);
      grown.set(log.ops);
      log.ops = grown;
    }
    const at = log.used * stride;
    log.ops[at] = flags;
    log.ops[at + 1] = objCounter;
    log.ops[at + 2] = objActor;
    log.ops[at + 3] = propA;
    log.ops[at + 4] = propB;
    log.used++;
    log.opCounts[current.index]!++;
  }

  /** Reads op `counter@actor` into `out`; false when no such op is indexed. */
  find(counter: number, actor: number, out: IndexedOp): boolean {
    const log = this.actors[actor];
    const change = log === undefined ? -1 : changeIndexOf(log, counter);
    if (change < 0) return false;
    const at = (log!.offsets[change]! + counter - log!.startOps[change]!) * stride;
    out.flags = log!.ops[at]!;
    out.objCounter = log!.ops[at + 1]!;
    out.objActor = log!.ops[at + 2]!;
    out.propA = log!.ops[at + 3]!;
    out.propB = log!.ops[at + 4]!;
    return true;
  }

  /** The hash of the change holding op `counter@actorHex` (e.g. the one that made an object), if indexed. */
  changeHolding(counter: number, actorHex: string): string | undefined {
    const actor = this.actorIds.get(actorHex);
    const log = actor === undefined ? undefined : this.actors[actor]!;
    const change = log === undefined ? -1 : changeIndexOf(log, counter);
    return change < 0 ? undefined : log!.hashes[change];
  }

  /** The index as plain data; its op arrays are copies, so they may be transferred. Not during begin()/commit(). */
  exportState(): OpIndexState {
    const actors = this.actors.map((log) => ({
      hex: log.hex, startOps: log.startOps, opCounts: log.opCounts, offsets: log.offsets, hashes: log.hashes,
      ops: log.ops.slice(0, log.used * stride),
    }));
    return { actors, keys: [...this.keyIds.keys()], headsKey: this.headsKey };
  }

  /** The index exportState() described: O(changes) plus a copy-free adoption of the op arrays. */
  static fromState(state: OpIndexState): AutomergeOpIndex {
    const index = new AutomergeOpIndex();
    for (const actor of state.actors) {
      const id = index.internActor(actor.hex);
      const log = index.actors[id]!;
      log.startOps = actor.startOps;
      log.opCounts = actor.opCounts;
      log.offsets = actor.offsets;
      log.hashes = actor.hashes;
      log.used = actor.ops.length / stride;
      // addOp grows by doubling from a non-empty array.
      log.ops = actor.ops.length > 0 ? actor.ops : log.ops;
      for (let seq = 1; seq <= actor.hashes.length; seq++) index.changes.set(actor.hashes[seq - 1]!, { actor: id, seq });
    }
    for (const key of state.keys) index.keyId(key);
    index.headsKey = state.headsKey;
    return index;
  }

  /** Approximate heap bytes held by the index. */
  byteSize(): number {
    let bytes = 0;
    for (const log of this.actors) bytes += log.ops.byteLength + log.startOps.length * 32 + 96;
    return bytes + this.changes.size * 160 + this.keyIds.size * 64;
  }
}

/** Index (seq - 1) of the change of `log` holding op `counter`, or -1. */
function changeIndexOf(log: ActorLog, counter: number): number {
  const starts = log.startOps;
  let low = 0;
  let high = starts.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    if (counter < starts[mid]!) high = mid - 1;
    else if (counter >= starts[mid]! + log.opCounts[mid]!) low = mid + 1;
    else return mid;
  }
  return -1;
}
