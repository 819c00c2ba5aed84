import * as Automerge from "@automerge/automerge";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createAutomergeEngine } from "../../src/doc/automerge-engine.ts";
import { ConcordError } from "../../src/errors.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { expectAcceptedOrRejected, expectRejected, expectStillAccepts, thrown } from "./rejection-checks.ts";

type Doc = Automerge.Doc<any>;

function setup(limits?: { maxDeltaBytes?: number; maxDepth?: number }) {
  return createAutomergeEngine({ clock: createManualClock(1_700_000_000_000), random: createSeededRandom(21), ...(limits ? { limits } : {}) });
}
type Engine = ReturnType<typeof setup>;

let probes = 0;
const probe = (engine: Engine, doc: Doc): Doc => expectStillAccepts(engine, doc, (d) => void (d.probe = probes++));

const actorA = "aa".repeat(16);
const actorB = "bb".repeat(16);

/**
 * A document written by actor A outside the engine (so its op ids are known
 * to the test), and helpers to forge changes by actor B on top of it.
 */
function forge() {
  let raw = Automerge.init<any>({ actor: actorA });
  raw = Automerge.change(raw, { time: 0 }, (d) => {
    d.map = { a: 1 };
    d.text = "hi";
    d.list = [1];
    d.counter = new Automerge.Counter(1);
  });
  const base = Automerge.decodeChange(Automerge.getLastLocalChange(raw)!);
  const opId = (action: string, where: (op: any) => boolean): string => {
    const index = base.ops.findIndex((op: any) => op.action === action && where(op));
    return `${base.startOp + index}@${actorA}`;
  };
  const ids = {
    map: opId("makeMap", (op) => op.key === "map"),
    text: opId("makeText", (op) => op.key === "text"),
    list: opId("makeList", (op) => op.key === "list"),
    mapA: opId("set", (op) => op.key === "a"),
    counter: opId("set", (op) => op.key === "counter"),
  };
  const firstChar = opId("set", (op) => op.obj === ids.text && op.elemId === "_head");
  const listElem = opId("set", (op) => op.obj === ids.list);
  const change = (ops: unknown[], overrides: Record<string, unknown> = {}): Uint8Array =>
    Automerge.encodeChange({ actor: actorB, seq: 1, startOp: 100, time: 0, message: null, deps: [base.hash], ops, ...overrides } as never);
  return { raw, base, ids: { ...ids, firstChar, listElem }, change };
}

/** Nested maps `levels` deep below the root, written outside the engine. */
function nestedMaps(levels: number): Uint8Array {
  let raw = Automerge.init<any>({ actor: "cc".repeat(16) });
  raw = Automerge.change(raw, { time: 0 }, (d) => {
    let map = d;
    for (let level = 1; level <= levels; level++) {
      map.child = {};
      map = map.child;
    }
  });
  return Automerge.save(raw);
}

describe("Automerge engine with hostile input", () => {
  it("rejects random bytes cleanly and keeps working", () => {
    const engine = setup();
    let doc = engine.change(engine.create(), (d) => void (d.text = "hello")).state;
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 48 }), fc.uint8Array({ maxLength: 40 }).map((b) => new Uint8Array([0x85, 0x6f, 0x4a, 0x83, ...b]))), (bytes) => {
        doc = expectAcceptedOrRejected(engine, doc, bytes);
      }),
      { numRuns: 1000 },
    );
    probe(engine, doc);
  });

  it("applies or cleanly rejects real deltas with bytes flipped, inserted or removed", () => {
    const engine = setup();
    const writer = engine.change(engine.create(), (d) => {
      d.text = "hello";
      d.list = [1, { x: 2 }];
    });
    const snapshotBefore = engine.snapshot(engine.create());
    const delta = writer.delta;
    const edit = fc.record({ at: fc.nat(), byte: fc.nat(255), mode: fc.constantFrom("flip", "insert", "remove") });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), (edits) => {
        const bytes = Array.from(delta);
        for (const e of edits) {
          const at = e.at % (bytes.length + 1);
          if (e.mode === "insert") bytes.splice(at, 0, e.byte);
          else if (bytes.length > 0 && e.mode === "remove") bytes.splice(at % bytes.length, 1);
          else if (bytes.length > 0) bytes[at % bytes.length] = bytes[at % bytes.length]! ^ (e.byte | 1);
        }
        expectAcceptedOrRejected(engine, engine.load(snapshotBefore), new Uint8Array(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it("loads or cleanly refuses random and mutated snapshots", () => {
    const engine = setup();
    const good = engine.snapshot(engine.change(engine.create(), (d) => void (d.text = "hello")).state);
    const mutated = fc.tuple(fc.nat(), fc.nat(255)).map(([at, byte]) => {
      const bytes = good.slice();
      bytes[at % bytes.length] = byte;
      return bytes;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 48 }), mutated), (bytes) => {
        try {
          const doc = engine.load(bytes);
          expect(engine.toJSON(engine.load(engine.snapshot(doc)))).toEqual(engine.toJSON(doc));
        } catch (error) {
          expect(error).toBeInstanceOf(ConcordError);
          expect((error as ConcordError).details["damaged"]).toBeUndefined();
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("rejects every truncation of a real delta", () => {
    const engine = setup();
    const { delta } = engine.change(engine.create(), (d) => void (d.text = "hello world"));
    const doc = engine.create();
    for (let length = 1; length < delta.length; length++) expectRejected(engine, doc, delta.subarray(0, length), { code: "invalid_update" });
    probe(engine, doc);
  });

  it("rejects a delta whose dependencies never arrived, where raw Automerge would queue it forever", () => {
    const engine = setup();
    let writer = engine.change(engine.create(), (d) => void (d.n = 1)).state;
    const first = Automerge.getLastLocalChange(writer)!;
    writer = engine.change(writer, (d) => void (d.n = 2)).state;
    const second = Automerge.getLastLocalChange(writer)!;
    const raw = Automerge.loadIncremental(Automerge.init(), second);
    expect(Automerge.getMissingDeps(raw, [])).not.toEqual([]); // the trap being guarded against

    let doc = engine.create();
    const error = expectRejected(engine, doc, second, { reason: "missing_dependencies" });
    expect(error.details["missing"]).toEqual([Automerge.decodeChange(first).hash]);
    doc = engine.apply(doc, first).state;
    doc = engine.apply(doc, second).state;
    expect(engine.toJSON(doc)).toEqual({ n: 2 });
    expect(Automerge.getMissingDeps(doc, [])).toEqual([]);
  });

  it("rejects a change on an object that does not exist, which makes raw Automerge panic and break the document", () => {
    const engine = setup();
    const { raw, change } = forge();
    const evil = change([{ action: "set", obj: `55@${actorA}`, key: "x", value: 1, datatype: "int", pred: [] }]);
    const victim = Automerge.clone(raw);
    expect(() => Automerge.loadIncremental(victim, evil)).toThrow();
    expect(() => Automerge.load(Automerge.save(victim))).toThrow(); // its snapshots no longer load

    const doc = engine.load(Automerge.save(raw));
    expectRejected(engine, doc, evil, { reason: "malformed" });
    expect(() => engine.load(engine.snapshot(doc))).not.toThrow();
    probe(engine, doc);
  });

  it("rejects a dangling predecessor, which raw Automerge accepts silently and then cannot reload", () => {
    const engine = setup();
    const { raw, change, ids } = forge();
    const evil = change([{ action: "set", obj: ids.map, key: "a", value: 5, datatype: "int", pred: [`9@${actorA}`] }]);
    const victim = Automerge.loadIncremental(Automerge.clone(raw), evil);
    expect(() => Automerge.load(Automerge.save(victim))).toThrow();

    const doc = engine.load(Automerge.save(raw));
    expectRejected(engine, doc, evil, { reason: "malformed" });
    probe(engine, doc);
  });

  it("rejects changes whose references do not fit what they point at", () => {
    const engine = setup();
    const { raw, change, ids } = forge();
    const doc = engine.load(Automerge.save(raw));
    const cases: Array<[string, unknown[]]> = [
      ["insert after an element that does not exist", [{ action: "set", obj: ids.text, elemId: `9@${actorA}`, insert: true, value: "z", pred: [] }]],
      ["insert after an element of another list", [{ action: "set", obj: ids.list, elemId: ids.firstChar, insert: true, value: 1, datatype: "int", pred: [] }]],
      ["element of an unknown actor", [{ action: "set", obj: ids.text, elemId: `1@${"dd".repeat(16)}`, insert: true, value: "z", pred: [] }]],
      ["delete of an element that does not exist", [{ action: "del", obj: ids.list, elemId: `9@${actorA}`, pred: [`9@${actorA}`] }]],
      ["predecessor at another key", [{ action: "del", obj: "_root", key: "map", pred: [ids.text] }]],
      ["predecessor from the future", [{ action: "set", obj: ids.map, key: "a", value: 5, datatype: "int", pred: [`150@${actorA}`] }]],
      ["predecessor is the op itself", [{ action: "set", obj: ids.map, key: "a", value: 5, datatype: "int", pred: [`100@${actorB}`] }]],
      ["map key on a list", [{ action: "set", obj: ids.list, key: "a", value: 5, datatype: "int", pred: [] }]],
      ["list element on a map", [{ action: "set", obj: ids.map, elemId: "_head", insert: true, value: 5, datatype: "int", pred: [] }]],
      ["object that is a scalar", [{ action: "set", obj: ids.mapA, key: "a", value: 5, datatype: "int", pred: [] }]],
      ["increment of a non-counter", [{ action: "inc", obj: ids.map, key: "a", value: 5, pred: [ids.mapA] }]],
      ["delete with nothing to delete", [{ action: "del", obj: ids.map, key: "a", pred: [] }]],
    ];
    for (const [name, ops] of cases) {
      const error = expectRejected(engine, doc, change(ops), { reason: "malformed" });
      expect(error.message, name).toContain("rejected");
    }
    expect(() => engine.load(engine.snapshot(doc))).not.toThrow();
    // The same shapes with valid references go through.
    const fine = change([
      { action: "set", obj: ids.map, key: "a", value: 5, datatype: "int", pred: [ids.mapA] },
      { action: "inc", obj: "_root", key: "counter", value: 2, pred: [ids.counter] },
      { action: "set", obj: ids.text, elemId: ids.firstChar, insert: true, value: "!", pred: [] },
      { action: "del", obj: ids.list, elemId: ids.listElem, pred: [ids.listElem] },
    ]);
    const next = engine.apply(doc, fine).state;
    expect(engine.toJSON(next)).toEqual({ counter: 3, list: [], map: { a: 5 }, text: "h!i" });
    expect(engine.toJSON(engine.load(engine.snapshot(next)))).toEqual(engine.toJSON(next));
  });

  it("rejects text marks that are unpaired, misplaced or reversed, which raw Automerge accepts and then cannot reload", () => {
    const engine = setup();
    const { raw, change, ids } = forge();
    const secondChar = `${Number(ids.firstChar.split("@")[0]) + 1}@${actorA}`;
    const begin = (obj: string, elemId: string) => ({ action: "markBegin", obj, elemId, insert: true, name: "bold", value: true, expand: false, pred: [] });
    const end = (obj: string, elemId: string) => ({ action: "markEnd", obj, elemId, insert: true, expand: false, pred: [] });
    const reversed = change([begin(ids.text, secondChar), end(ids.text, ids.firstChar)]);
    const victim = Automerge.loadIncremental(Automerge.clone(raw), reversed);
    expect(() => Automerge.load(Automerge.save(victim))).toThrow();

    const doc = engine.load(Automerge.save(raw));
    expectRejected(engine, doc, reversed, { reason: "malformed" });
    expectRejected(engine, doc, change([end(ids.text, ids.firstChar)]), { reason: "malformed" });
    expectRejected(engine, doc, change([begin(ids.text, ids.firstChar)]), { reason: "malformed" });
    expectRejected(engine, doc, change([begin(ids.list, ids.listElem), end(ids.list, ids.listElem)]), { reason: "malformed" });
    const { state } = engine.apply(doc, change([begin(ids.text, "_head"), end(ids.text, secondChar)]));
    expect(Automerge.marks(state, ["text"])).toEqual([{ name: "bold", value: true, start: 0, end: 2 }]);
    probe(engine, state);
  });

  it("rejects a change nested 50,000 deep without terminating the Automerge module", () => {
    // Raw Automerge traps ("unreachable") on this and every later call in the process fails.
    const engine = setup();
    const ops: unknown[] = [];
    for (let i = 1, parent = "_root"; i <= 50_000; parent = `${i}@${actorA}`, i++) ops.push({ action: "makeMap", obj: parent, key: "c", pred: [] });
    const deep = Automerge.encodeChange({ actor: actorA, seq: 1, startOp: 1, time: 0, message: null, deps: [], ops } as never);
    const doc = engine.create();
    expectRejected(engine, doc, deep, { reason: "too_deep" });
    // A snapshot of it, built without materialising, is refused too.
    const scratch = Automerge.init();
    Automerge.getBackend(scratch).applyChanges([deep]);
    const snapshot = Automerge.getBackend(scratch).save();
    expect(() => engine.load(snapshot)).toThrow(ConcordError);
    expect(Automerge.getHeads(Automerge.init())).toEqual([]);
    probe(engine, doc);
  });

  it("rejects changes that contradict the history it holds: reused seq numbers, seq gaps, reused op counters", () => {
    const engine = setup();
    const { raw, base, change } = forge();
    const doc = engine.load(Automerge.save(raw));
    const set = [{ action: "set", obj: "_root", key: "x", value: 1, datatype: "int", pred: [] }];
    expectRejected(engine, doc, Automerge.encodeChange({ ...base, message: "forged", hash: undefined } as never), { reason: "conflicting_history" });
    expectRejected(engine, doc, change(set, { seq: 2 }), { reason: "conflicting_history" });
    expectRejected(engine, doc, change(set, { actor: actorA, seq: 2, startOp: 1 }), { reason: "conflicting_history" });
    expectRejected(engine, doc, change(set, { startOp: base.startOp }), { reason: "conflicting_history" });
    probe(engine, doc);
  });

  it("rejects document chunks and deflated changes inside a delta", () => {
    const engine = setup();
    const doc = engine.create();
    const snapshot = Automerge.save(Automerge.change(Automerge.init<any>(), { time: 0 }, (d) => void (d.n = 1)));
    expectRejected(engine, doc, snapshot, { reason: "unsupported_content" });
    const deflated = new Uint8Array([0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 2, 1, 0]);
    expectRejected(engine, doc, deflated, { reason: "unsupported_content" });
  });

  it("accepts 64 levels of nested maps and rejects 65", () => {
    const engine = setup();
    const writerFor = (levels: number) => Automerge.getAllChanges(Automerge.load(nestedMaps(levels)))[0]!;
    const doc = engine.create();
    expectRejected(engine, doc, writerFor(65), { reason: "too_deep" });
    const { state } = engine.apply(doc, writerFor(64));
    expect(JSON.stringify(engine.toJSON(state)).match(/child/g)).toHaveLength(64);
    probe(engine, state);
  });

  it("rejects a snapshot nested deeper than the limit", () => {
    const engine = setup();
    expect(thrown(() => engine.load(nestedMaps(65))).details["reason"]).toBe("too_deep");
    expect(engine.toJSON(engine.load(nestedMaps(64)))).toBeTruthy();
  });

  it("rejects a delta over maxDeltaBytes with too_large", () => {
    const engine = setup({ maxDeltaBytes: 256 });
    const { delta } = setup().change(setup().create(), (d) => void (d.text = "x".repeat(1000)));
    const doc = engine.create();
    expectRejected(engine, doc, delta, { code: "too_large" });
    probe(engine, doc);
  });
});
