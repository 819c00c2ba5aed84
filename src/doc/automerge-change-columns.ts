/**
 * Reads what the cheap pre-checks need from a raw Automerge change chunk,
 * without calling into wasm: the author, the start op, the other actors, and
 * the action and object columns of its ops. Automerge.decodeChange builds a
 * JS object per op (seconds for a few hundred thousand ops, before any check
 * could refuse them); this reads the same columns in one linear pass, so a
 * delta over the op budget or nested too deep is refused for the price of
 * reading its bytes.
 *
 * Layout (the Automerge binary format): magic, checksum, type 1, LEB128
 * length; then deps (count, 32-byte hashes), actor (length-prefixed), seq,
 * start op, time (signed), message (length-prefixed), other actors (count,
 * each length-prefixed), column metadata (count, then spec and length for
 * each), the columns' data in order, and extra bytes. Only the columns read
 * here are interpreted; Automerge still decodes and checks the whole change.
 */
import { ByteReader, malformed } from "./byte-reader.ts";
import { invalidUpdate } from "./engine-errors.ts";

/** Column specs (id << 4 | type) of the op columns read here. */
const objActorColumn = (0 << 4) | 1;
const objCounterColumn = (0 << 4) | 2;
const actionColumn = (4 << 4) | 2;
/** Bit 3 of a column spec: the column is deflated. */
const deflated = 8;

/** The parts of a change chunk the pre-checks use. */
export interface ChangeColumns {
  /** How many ops the change holds (its action column's length). */
  opCount: number;
  /** Hex actor ids: the author first, then the other actors, as the obj actor column indexes them. */
  actors: string[];
  startOp: number;
  /** Action code of each op (0 makeMap, 2 makeList, 4 makeText, 6 makeTable are the makes). */
  actions: Uint32Array;
  /** Per op: index into `actors` of the object it acts on, or -1 for the root. */
  objActors: Int32Array;
  /** Per op: counter of the object it acts on (0 for the root). */
  objCounters: Float64Array;
}

/** A change chunk's header fields and its columns' data by spec (deflate bit cleared). */
export interface ChangeLayout {
  /** Hex actor ids: the author first, then the other actors, as actor columns index them. */
  actors: string[];
  deps: string[];
  seq: number;
  startOp: number;
  columns: Map<number, Uint8Array>;
}

/**
 * The header and raw columns of `chunk` (one change chunk, as
 * splitChangeChunks yields); "malformed" when they do not parse. A deflated
 * op column is refused as "unsupported_content": Automerge never writes one.
 */
export function readChangeLayout(chunk: Uint8Array): ChangeLayout {
  const r = new ByteReader(chunk);
  r.take(9); // magic, checksum, type: checked by splitChangeChunks
  const length = r.varUint();
  if (length !== r.remaining) malformed("change chunk length does not match its bytes");
  const depCount = r.count();
  const deps: string[] = [];
  for (let i = 0; i < depCount; i++) deps.push(hex(r.take(32)));
  const actors = [hex(r.take(r.count()))];
  const seq = r.varUint();
  const startOp = r.varUint();
  skipSigned(r); // time
  r.take(r.count()); // message
  const others = r.count();
  for (let i = 0; i < others; i++) actors.push(hex(r.take(r.count())));
  const columnCount = r.count();
  const specs: Array<{ spec: number; length: number }> = [];
  for (let i = 0; i < columnCount; i++) specs.push({ spec: r.varUint(), length: r.varUint() });
  const columns = new Map<number, Uint8Array>();
  for (const { spec, length: bytes } of specs) {
    const column = r.take(bytes);
    if ((spec & deflated) !== 0) {
      throw invalidUpdate("unsupported_content", "a deflated op column in an Automerge change is not accepted (Automerge never writes one)");
    }
    columns.set(spec, column);
  }
  return { actors, deps, seq, startOp, columns };
}

/**
 * The columns the pre-checks use, from `chunk`. A change of more than
 * `maxOps` ops is only counted (its per-op arrays are left empty): the
 * caller refuses it anyway.
 */
export function readChangeColumns(chunk: Uint8Array, maxOps: number): ChangeColumns {
  const { actors, startOp, columns } = readChangeLayout(chunk);
  const opCount = countValues(columns.get(actionColumn));
  const count = opCount > maxOps ? 0 : opCount;
  const actions = readUintColumn(columns.get(actionColumn), count);
  const objActors = readUintColumn(columns.get(objActorColumn), count);
  const objCounters = readUintColumn(columns.get(objCounterColumn), count);
  const result: ChangeColumns = {
    opCount, actors, startOp,
    actions: new Uint32Array(count), objActors: new Int32Array(count), objCounters: new Float64Array(count),
  };
  for (let i = 0; i < count; i++) {
    result.actions[i] = Math.min(actions[i] ?? 0xffffffff, 0xffffffff);
    const actor = objActors[i];
    const counter = objCounters[i];
    // Both null is the root; one without the other does not decode in Automerge either.
    if (actor === null || actor === undefined || counter === null || counter === undefined) {
      result.objActors[i] = -1;
      continue;
    }
    if (actor >= actors.length) malformed("an op names an actor the change does not list");
    result.objActors[i] = actor;
    result.objCounters[i] = counter;
  }
  return result;
}

/**
 * An RLE column of unsigned integers: runs of a repeated value (positive
 * count), of literals (negative count) or of nulls (count 0, then how many).
 * Reads at most `upTo` values (a shorter column ends in nulls; anything
 * beyond is Automerge's to refuse).
 */
export function readUintColumn(column: Uint8Array | undefined, upTo: number): Array<number | null> {
  const values: Array<number | null> = [];
  if (column === undefined) return values;
  const r = new ByteReader(column);
  while (r.remaining > 0 && values.length < upTo) {
    const run = readSigned(r);
    if (run > 0) {
      const value = r.varUint();
      for (let i = 0; i < run && values.length < upTo; i++) values.push(value);
    } else if (run < 0) {
      for (let i = 0; i < -run && values.length < upTo; i++) values.push(r.varUint());
    } else {
      const nulls = r.varUint();
      for (let i = 0; i < nulls && values.length < upTo; i++) values.push(null);
    }
  }
  return values;
}

/** How many values an RLE column holds, in one pass over its runs (a repeat run of any length costs one step). */
export function countValues(column: Uint8Array | undefined): number {
  if (column === undefined) return 0;
  const r = new ByteReader(column);
  let count = 0;
  while (r.remaining > 0) {
    const run = readSigned(r);
    if (run > 0) {
      r.varUint();
      count += run;
    } else if (run < 0) {
      for (let i = 0; i < -run; i++) r.varUint();
      count -= run;
    } else {
      count += r.varUint();
    }
    // Op counters are 32-bit: a longer change cannot be valid, and the sum stays exact.
    if (count > 0xffffffff) malformed("a change cannot hold that many ops");
  }
  return count;
}

/** A signed LEB128 integer within the safe range. */
export function readSigned(r: ByteReader): number {
  let result = 0;
  let mult = 1;
  for (let i = 0; i < 8; i++) {
    const byte = r.u8();
    result += (byte & 0x7f) * mult;
    mult *= 128;
    if (byte < 0x80) return (byte & 0x40) !== 0 ? result - mult : result;
  }
  return malformed("integer encoding too long");
}

/** Skips a signed LEB128 of up to 64 bits (a change's time). */
function skipSigned(r: ByteReader): void {
  for (let i = 0; i < 10; i++) if (r.u8() < 0x80) return;
  malformed("integer encoding too long");
}

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}
