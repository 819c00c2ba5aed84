/**
 * The ops of a change Automerge itself just made (a local edit), read from
 * its columns in JS instead of Automerge.decodeChange. The engine indexes
 * every change it holds (automerge-op-index.ts) and only needs each op's
 * action, object, key or element, insert flag, predecessors and whether it
 * sets a counter; decodeChange builds all of that and the values through
 * wasm, with hex strings for every id, and was most of the cost of a large
 * local edit (a 300,000-character insert: several times the edit itself).
 * Anything unusual (marks, a column this reader does not expect) returns
 * undefined and the caller decodes with Automerge instead.
 */
import type * as Automerge from "@automerge/automerge";
import { ByteReader } from "./byte-reader.ts";
import { countValues, readChangeLayout, readSigned, readUintColumn } from "./automerge-change-columns.ts";

const column = { objActor: 1, objCounter: 2, keyActor: 17, keyCounter: 19, keyString: 21, insert: 52, action: 66, valueMeta: 86, valueRaw: 87, predGroup: 112, predActor: 113, predCounter: 115 } as const;
const known = new Set<number>(Object.values(column));
const actionNames = ["makeMap", "set", "makeList", "del", "makeText", "inc", "makeTable"] as const;
/** Value metadata type code of a counter (the low 4 bits; the rest is the value's length). */
const counterType = 8;

/** The change in decodeChange's shape (the fields indexChange reads), or undefined to fall back to Automerge. */
export function readLocalChange(chunk: Uint8Array, hash: string): Automerge.DecodedChange | undefined {
  const { actors, deps, seq, startOp, columns } = readChangeLayout(chunk);
  for (const spec of columns.keys()) if (!known.has(spec)) return undefined;
  const count = countValues(columns.get(column.action));
  const actions = readUintColumn(columns.get(column.action), count);
  const objActors = readUintColumn(columns.get(column.objActor), count);
  const objCounters = readUintColumn(columns.get(column.objCounter), count);
  const keyActors = readUintColumn(columns.get(column.keyActor), count);
  const keyCounters = readDeltaColumn(columns.get(column.keyCounter), count);
  const keyStrings = readStringColumn(columns.get(column.keyString), count);
  const inserts = readBooleanColumn(columns.get(column.insert), count);
  const valueMeta = readUintColumn(columns.get(column.valueMeta), count);
  const predGroups = readUintColumn(columns.get(column.predGroup), count);
  let predTotal = 0;
  for (const n of predGroups) predTotal += n ?? 0;
  const predActors = readUintColumn(columns.get(column.predActor), predTotal);
  const predCounters = readDeltaColumn(columns.get(column.predCounter), predTotal);
  const id = (counter: number | null | undefined, actor: number | null | undefined): string | undefined =>
    counter == null || actor == null || actors[actor] === undefined ? undefined : `${counter}@${actors[actor]}`;

  const ops: Array<Record<string, unknown>> = [];
  let pred = 0;
  for (let i = 0; i < count; i++) {
    const name = actionNames[actions[i] ?? -1];
    if (name === undefined) return undefined; // marks and unknown actions: Automerge decodes them
    const op: Record<string, unknown> = { action: name, obj: objActors[i] == null && objCounters[i] == null ? "_root" : id(objCounters[i], objActors[i]) };
    if (op["obj"] === undefined) return undefined;
    const key = keyStrings[i];
    if (key != null) op["key"] = key;
    else if (keyCounters[i] === 0 && keyActors[i] == null) op["elemId"] = "_head";
    else {
      op["elemId"] = id(keyCounters[i], keyActors[i]);
      if (op["elemId"] === undefined) return undefined;
    }
    op["insert"] = inserts[i] === true;
    if (name === "set" && ((valueMeta[i] ?? 0) & 0xf) === counterType) op["datatype"] = "counter";
    const preds: string[] = [];
    for (let n = predGroups[i] ?? 0; n > 0; n--, pred++) {
      const p = id(predCounters[pred], predActors[pred]);
      if (p === undefined) return undefined;
      preds.push(p);
    }
    op["pred"] = preds;
    ops.push(op);
  }
  return { actor: actors[0]!, seq, startOp, time: 0, message: null, deps, hash, ops } as unknown as Automerge.DecodedChange;
}

/** An RLE column of signed deltas; each value is the running sum (nulls leave it alone). */
function readDeltaColumn(bytes: Uint8Array | undefined, upTo: number): Array<number | null> {
  const values: Array<number | null> = [];
  if (bytes === undefined) return values;
  const r = new ByteReader(bytes);
  let sum = 0;
  const push = (delta: number | null, times: number) => {
    for (let i = 0; i < times && values.length < upTo; i++) {
      if (delta === null) values.push(null);
      else values.push((sum += delta));
    }
  };
  while (r.remaining > 0 && values.length < upTo) {
    const run = readSigned(r);
    if (run > 0) push(readSigned(r), run);
    else if (run < 0) for (let i = 0; i < -run && values.length < upTo; i++) push(readSigned(r), 1);
    else push(null, r.varUint());
  }
  return values;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** An RLE column of strings (each a LEB128 length and UTF-8 bytes). */
function readStringColumn(bytes: Uint8Array | undefined, upTo: number): Array<string | null> {
  const values: Array<string | null> = [];
  if (bytes === undefined) return values;
  const r = new ByteReader(bytes);
  const read = () => utf8.decode(r.take(r.count()));
  while (r.remaining > 0 && values.length < upTo) {
    const run = readSigned(r);
    if (run > 0) {
      const value = read();
      for (let i = 0; i < run && values.length < upTo; i++) values.push(value);
    } else if (run < 0) {
      for (let i = 0; i < -run && values.length < upTo; i++) values.push(read());
    } else {
      const nulls = r.varUint();
      for (let i = 0; i < nulls && values.length < upTo; i++) values.push(null);
    }
  }
  return values;
}

/** A boolean column: alternating run lengths, starting with false. */
function readBooleanColumn(bytes: Uint8Array | undefined, upTo: number): boolean[] {
  const values: boolean[] = [];
  if (bytes === undefined) return values;
  const r = new ByteReader(bytes);
  let value = false;
  while (r.remaining > 0 && values.length < upTo) {
    const run = r.varUint();
    for (let i = 0; i < run && values.length < upTo; i++) values.push(value);
    value = !value;
  }
  return values;
}
