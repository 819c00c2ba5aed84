/**
 * Fuzz targets: seeded mutations of valid inputs, fed to the engines the way
 * a hostile client or region would. After every input the target checks
 * what must hold whatever the input was:
 * - it was refused with a ConcordError, or accepted;
 * - an accepted input leaves a state that saves, loads and reads back equal,
 *   and that still takes an ordinary write afterwards ("poisoned" otherwise);
 * - nothing else escapes ("crashed": any other error, or a dead wasm module).
 * Inputs slower than `slowMs` are counted as hangs; the figure is reported
 * by `npm run fuzz` and never asserted in `npm test`.
 */
import * as Automerge from "@automerge/automerge";
import * as Y from "yjs";
import { createHash } from "node:crypto";
import { canonicalStringify } from "../../src/doc/canonical-json.ts";
import type { DocEngine, DocKind } from "../../src/doc/engine.ts";
import { createEngine } from "../../src/doc/index.ts";
import { parseJsonOps } from "../../src/doc/json-ops.ts";
import { isConcordError } from "../../src/errors.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom, type Random } from "../../src/runtime/random.ts";
import { newTally, type FuzzOptions, type FuzzTally } from "./tally.ts";

export type { FuzzOptions, FuzzTally } from "./tally.ts";

function engineFor(kind: DocKind, seed: number): DocEngine<unknown> {
  return createEngine(kind, { clock: createManualClock(0), random: createSeededRandom(seed) }) as DocEngine<unknown>;
}

/** Valid deltas to mutate: a few real edits of each engine on a shared base. */
export function corpus(kind: DocKind): Uint8Array[] {
  const writer = engineFor(kind, 11);
  let state = writer.create();
  const deltas: Uint8Array[] = [];
  const edit = (fn: (d: any) => void) => {
    const out = writer.change(state, fn);
    state = out.state;
    deltas.push(out.delta);
  };
  if (kind === "yjs") {
    edit((d: Y.Doc) => { d.getText("t").insert(0, "hello world"); d.getMap("m").set("a", { x: [1, 2] }); });
    edit((d: Y.Doc) => { d.getText("t").delete(2, 3); d.getArray("l").push([1, "two", { three: 3 }]); });
    edit((d: Y.Doc) => { const inner = new Y.Map(); d.getMap("m").set("inner", inner); inner.set("k", 1.25); });
    edit((d: Y.Doc) => { d.getText("t").format(0, 3, { bold: true }); d.getMap("m").delete("a"); });
  } else {
    edit((d: any) => { d.t = "hello world"; d.l = [1, 2]; d.m = { a: 1, f: 0.3 }; d.c = new Automerge.Counter(1); });
    edit((d: any) => { Automerge.splice(d, ["t"], 2, 3, "XY"); d.l.push({ deep: [1] }); d.c.increment(2); delete d.m.a; });
    edit((d: any) => { Automerge.mark(d, ["t"], { start: 0, end: 2, expand: "after" }, "bold", true); d.b = new Uint8Array([1, 2]); });
  }
  return deltas;
}

/** One mutation of `input`, drawn from `random`: flips, truncation, splices, duplication. */
export function mutate(input: Uint8Array, others: Uint8Array[], random: Random): Uint8Array {
  const bytes = input.slice();
  switch (random.int(5)) {
    case 0:
      for (let n = 1 + random.int(4); n > 0 && bytes.length > 0; n--) bytes[random.int(bytes.length)]! ^= 1 << random.int(8);
      return bytes;
    case 1:
      return bytes.subarray(0, random.int(bytes.length + 1));
    case 2: {
      const other = others[random.int(others.length)]!;
      const cut = random.int(bytes.length + 1);
      const out = new Uint8Array(cut + other.length - Math.min(other.length, cut));
      out.set(bytes.subarray(0, cut));
      out.set(other.subarray(Math.min(other.length, cut)), cut);
      return out;
    }
    case 3: {
      const at = random.int(bytes.length + 1);
      const out = new Uint8Array(bytes.length + 1);
      out.set(bytes.subarray(0, at));
      out[at] = random.int(256);
      out.set(bytes.subarray(at), at + 1);
      return out;
    }
    default: {
      // A whole valid chunk twice, or another valid delta appended.
      const other = others[random.int(others.length)]!;
      const out = new Uint8Array(bytes.length + other.length);
      out.set(bytes);
      out.set(other, bytes.length);
      return out;
    }
  }
}

/** Automerge checks each chunk's checksum first; a fuzzer that fixes it reaches the decoder. */
export function fixAutomergeChecksum(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 9 || bytes[0] !== 0x85 || bytes[1] !== 0x6f) return bytes;
  const out = bytes.slice();
  out.set(createHash("sha256").update(out.subarray(8)).digest().subarray(0, 4), 4);
  return out;
}

/** Mutated binary deltas against a document holding the corpus's first edits. */
export function fuzzDeltas(kind: DocKind, options: FuzzOptions): FuzzTally {
  const tally = newTally(`${kind} deltas`);
  const random = createSeededRandom(options.seed);
  const deltas = corpus(kind);
  const engine = engineFor(kind, 13);
  let seedState = engine.create();
  seedState = engine.apply(seedState, deltas[0]!).state;
  const snapshot = engine.snapshot(seedState);
  for (let n = 0; n < options.inputs; n++) {
    let input = mutate(deltas[random.int(deltas.length)]!, deltas, random);
    if (kind === "automerge" && random.int(2) === 0) input = fixAutomergeChecksum(input);
    judge(tally, `seed ${options.seed} input ${n}`, options, () => applyAndCheck(engine, snapshot, input, kind));
  }
  return tally;
}

/** Random and mutated JSON-ops bodies: depth, size and shape. */
export function fuzzJsonOps(kind: DocKind, options: FuzzOptions): FuzzTally {
  const tally = newTally(`${kind} JSON ops`);
  const random = createSeededRandom(options.seed);
  const engine = engineFor(kind, 14);
  const snapshot = engine.snapshot(engine.applyOps(engine.create(), [{ op: "set", path: ["m", "k"], value: 1 }], { docId: "fuzz" }).state);
  for (let n = 0; n < options.inputs; n++) {
    const body = { ops: Array.from({ length: 1 + random.int(4) }, () => randomOp(random)) };
    judge(tally, `seed ${options.seed} input ${n}`, options, () => {
      const state = engine.load(snapshot);
      const { state: next } = engine.applyOps(state, parseJsonOps(JSON.parse(JSON.stringify(body))), { docId: "fuzz" });
      checkSurvives(engine, next, kind);
    });
  }
  return tally;
}

const names = ["m", "k", "t", "l", "meta", "__proto__", "", "sub", "$counter"];

export function randomOp(random: Random): unknown {
  const path = Array.from({ length: random.int(4) }, () => names[random.int(names.length)]!);
  const ops = ["set", "delete", "insertText", "deleteText", "push", "increment", "nope"];
  return {
    op: ops[random.int(ops.length)], path, value: randomValue(random), text: "ab".repeat(random.int(5)),
    index: random.int(6) - 1, length: random.int(4), by: random.int(3) === 0 ? 1.5 : random.int(10) - 5,
  };
}

export function randomValue(random: Random): unknown {
  switch (random.int(6)) {
    case 0: {
      let v: unknown = [];
      for (let d = random.int(200); d > 0; d--) v = [v];
      return v;
    }
    case 1: return "s".repeat(random.int(3000));
    case 2: return { a: [1, { b: null }], c: true };
    case 3: return random.float();
    case 4: return null;
    default: return Array.from({ length: random.int(50) }, (_, i) => i);
  }
}

function applyAndCheck(engine: DocEngine<unknown>, snapshot: Uint8Array, input: Uint8Array, kind: DocKind): void {
  const state = engine.load(snapshot);
  const { state: next } = engine.apply(state, input);
  checkSurvives(engine, next, kind);
}

/** Thrown for a state that no longer saves, loads or takes a write: the input poisoned it. */
class Poisoned extends Error {}

function checkSurvives(engine: DocEngine<unknown>, state: unknown, kind: DocKind): void {
  try {
    const json = canonicalStringify(engine.toJSON(state));
    const reloaded = engine.load(engine.snapshot(state));
    if (canonicalStringify(engine.toJSON(reloaded)) !== json) throw new Error("reloaded state reads differently");
    const edit = kind === "yjs" ? (d: Y.Doc) => d.getMap("after").set("ok", 1) : (d: any) => void (d.after = 1);
    engine.change(reloaded, edit);
  } catch (error) {
    throw new Poisoned(`accepted, then: ${String(error)}`);
  }
}

function judge(tally: FuzzTally, where: string, options: FuzzOptions, run: () => void): void {
  tally.tried++;
  const started = options.now?.() ?? 0;
  try {
    run();
    tally.accepted++;
  } catch (error) {
    if (error instanceof Poisoned) {
      tally.accepted++;
      tally.poisoned++;
      if (tally.failures.length < 5) tally.failures.push(`${where}: ${error.message}`);
    } else if (isConcordError(error)) {
      tally.refused++;
    } else {
      tally.crashed++;
      if (tally.failures.length < 5) tally.failures.push(`${where}: ${String(error)}`);
    }
  }
  if (options.now && options.now() - started > (options.slowMs ?? 1000)) {
    tally.hung++;
    if (tally.failures.length < 5) tally.failures.push(`${where}: took ${Math.round(options.now() - started)} ms`);
  }
}
