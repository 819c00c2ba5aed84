import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createYjsEngine } from "../../src/doc/yjs-engine.ts";
import { ConcordError } from "../../src/errors.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { expectAcceptedOrRejected, expectRejected, expectStillAccepts, thrown } from "./rejection-checks.ts";
import { Wire, deleteUpdate, stringUpdate } from "./yjs-wire.ts";

function setup(limits?: { maxDeltaBytes?: number; maxDepth?: number }) {
  return createYjsEngine({ clock: createManualClock(), random: createSeededRandom(11), ...(limits ? { limits } : {}) });
}
type Engine = ReturnType<typeof setup>;

let probes = 0;
const probe = (engine: Engine, doc: Y.Doc): void => void expectStillAccepts(engine, doc, (d: Y.Doc) => d.getMap("probe").set("n", probes++));

/** A document with some text, a map and a deletion, plus the deltas that built it. */
function populated(engine: Engine) {
  const doc = engine.create();
  const deltas = [
    engine.change(doc, (d: Y.Doc) => d.getText("t").insert(0, "hello world")).delta,
    engine.change(doc, (d: Y.Doc) => d.getMap("m").set("k", { a: [1, 2] })).delta,
    engine.change(doc, (d: Y.Doc) => d.getText("t").delete(2, 3)).delta,
  ];
  return { doc, deltas };
}

/** A snapshot with text from clients 1 and 2 and one deletion. */
function baseWithTwoClients(): Uint8Array {
  const one = new Y.Doc();
  one.clientID = 1;
  one.getText("t").insert(0, "abcd");
  const two = new Y.Doc();
  two.clientID = 2;
  Y.applyUpdate(two, Y.encodeStateAsUpdate(one));
  two.getText("t").insert(2, "XYZ");
  two.getText("t").delete(0, 1);
  return Y.encodeStateAsUpdate(two);
}

/** `update` (which has an empty delete set) with `ranges` as its delete set instead. */
function withDeletes(update: Uint8Array, ranges: Array<{ client: number; clock: number; len: number }>): Uint8Array {
  const wire = new Wire().varUint(ranges.length);
  for (const r of ranges) wire.varUint(r.client).varUint(1).varUint(r.clock).varUint(r.len);
  return new Uint8Array([...update.subarray(0, update.length - 1), ...wire.bytes()]);
}

/** Nested maps `levels` deep counting the root map, built by a client that skips all checks. */
function nestedMaps(levels: number): Uint8Array {
  const rogue = new Y.Doc();
  rogue.transact(() => {
    let map: Y.Map<unknown> = rogue.getMap("root");
    for (let level = 2; level <= levels; level++) {
      const child = new Y.Map<unknown>();
      map.set("child", child);
      map = child;
    }
  });
  return Y.encodeStateAsUpdate(rogue);
}

describe("Yjs engine with hostile input", () => {
  it("rejects random bytes cleanly and keeps working", () => {
    const engine = setup();
    const { doc } = populated(engine);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), (bytes) => {
        expectAcceptedOrRejected(engine, doc, bytes);
        expect(doc.store.pendingStructs).toBeNull();
        expect(doc.store.pendingDs).toBeNull();
      }),
      { numRuns: 1000 },
    );
    probe(engine, doc);
  });

  it("applies or cleanly rejects real deltas with bytes flipped, inserted or removed", () => {
    const engine = setup();
    const source = populated(engine);
    const edit = fc.record({ at: fc.nat(), byte: fc.nat(255), mode: fc.constantFrom("flip", "insert", "remove") });
    fc.assert(
      fc.property(fc.nat(source.deltas.length - 1), fc.array(edit, { minLength: 1, maxLength: 3 }), (which, edits) => {
        const target = engine.create();
        for (let i = 0; i < which; i++) engine.apply(target, source.deltas[i]!);
        const bytes = Array.from(source.deltas[which]!);
        for (const e of edits) {
          const at = e.at % (bytes.length + 1);
          if (e.mode === "insert") bytes.splice(at, 0, e.byte);
          else if (bytes.length > 0 && e.mode === "remove") bytes.splice(at % bytes.length, 1);
          else if (bytes.length > 0) bytes[at % bytes.length] = bytes[at % bytes.length]! ^ (e.byte | 1);
        }
        expectAcceptedOrRejected(engine, target, new Uint8Array(bytes));
        expect(target.store.pendingStructs).toBeNull();
        expect(target.store.pendingDs).toBeNull();
      }),
      { numRuns: 1000 },
    );
  });

  it("accepts exactly the hand-built updates raw Yjs would integrate completely", () => {
    // Differential check against Yjs itself on random structurally valid updates with arbitrary references.
    const engine = setup();
    const base = baseWithTwoClients();
    const id = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.nat(7));
    const item = fc.oneof(
      fc.record({ origin: id, text: fc.constantFrom("x", "yz") }),
      fc.record({ right: id, text: fc.constantFrom("x", "yz") }),
      fc.record({ origin: id, right: id, text: fc.constantFrom("x", "yz") }),
      fc.record({ root: fc.constantFrom("t", "u"), text: fc.constantFrom("x", "yz") }),
      fc.record({ parent: id, text: fc.constantFrom("x", "yz") }),
    );
    const section = fc.record({ client: fc.integer({ min: 1, max: 4 }), clock: fc.nat(8), items: fc.array(item, { minLength: 1, maxLength: 3 }) });
    const sections = fc.uniqueArray(section, { maxLength: 3, selector: (s) => s.client });
    const ranges = fc.array(fc.record({ client: fc.integer({ min: 1, max: 4 }), clock: fc.nat(8), len: fc.integer({ min: 1, max: 4 }) }), { maxLength: 2 });
    let accepted = 0;
    let waiting = 0;
    let poisoning = 0;
    fc.assert(
      fc.property(sections, ranges, (secs, dels) => {
        const update = withDeletes(stringUpdate(secs), dels);
        const raw = new Y.Doc();
        Y.applyUpdate(raw, base);
        let rawFailed = false;
        try {
          Y.applyUpdate(raw, update);
        } catch {
          rawFailed = true;
        }
        const rawComplete = !rawFailed && raw.store.pendingStructs === null && raw.store.pendingDs === null;
        const doc = engine.load(base);
        let error: unknown;
        try {
          engine.apply(doc, update);
        } catch (e) {
          error = e;
        }
        if (error === undefined) {
          accepted++;
          expect(rawComplete).toBe(true);
          expect(engine.toJSON(doc)).toEqual(engine.toJSON(raw));
          expect(engine.version(doc)).toEqual(engine.version(raw));
        } else if ((error as ConcordError).details?.["reason"] === "malformed") {
          // Stricter than raw Yjs on purpose: a struct that continues a known item but names another parent
          // (raw Yjs links it next to that item, and its own encoding can then reload differently; see the fuzz test).
          expect(error).toBeInstanceOf(ConcordError);
          expect((error as ConcordError).message).toMatch(/continues an item of another parent/);
          poisoning++;
        } else {
          expect(error).toBeInstanceOf(ConcordError);
          expect((error as ConcordError).details["reason"]).toBe("missing_dependencies");
          expect(rawComplete).toBe(false);
          waiting++;
        }
      }),
      { numRuns: 1000 },
    );
    // Both outcomes must actually occur for the comparison to mean anything.
    expect(accepted).toBeGreaterThan(50);
    expect(waiting).toBeGreaterThan(50);
  });

  it("loads or cleanly refuses random and mutated snapshots", () => {
    const engine = setup();
    const good = engine.snapshot(populated(engine).doc);
    const mutated = fc.tuple(fc.nat(), fc.nat(255)).map(([at, byte]) => {
      const bytes = good.slice();
      bytes[at % bytes.length] = byte;
      return bytes;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 48 }), mutated), (bytes) => {
        try {
          const doc = engine.load(bytes);
          expect(doc.store.pendingStructs).toBeNull();
          expect(engine.load(engine.snapshot(doc)).store.pendingStructs).toBeNull();
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
    const { deltas } = populated(engine);
    const doc = engine.create();
    engine.apply(doc, deltas[0]!);
    const delta = deltas[1]!;
    for (let length = 1; length < delta.length; length++) expectRejected(engine, doc, delta.subarray(0, length), { code: "invalid_update" });
    probe(engine, doc);
  });

  it("rejects a delta whose dependencies never arrived, where raw Yjs would park it forever", () => {
    const engine = setup();
    const { deltas } = populated(engine);
    const raw = new Y.Doc();
    Y.applyUpdate(raw, deltas[1]!);
    expect(raw.store.pendingStructs).not.toBeNull(); // the trap being guarded against
    Y.applyUpdate(raw, deltas[2]!);
    expect(raw.store.pendingDs).not.toBeNull();

    const doc = engine.create();
    expectRejected(engine, doc, deltas[1]!, { reason: "missing_dependencies" });
    expectRejected(engine, doc, deltas[2]!, { reason: "missing_dependencies" });
    for (const delta of deltas) expect(engine.apply(doc, delta).changed).toBe(true);
    const second = engine.create();
    const later = engine.change(second, (d: Y.Doc) => d.getText("x").insert(0, "a")).delta;
    const later2 = engine.change(second, (d: Y.Doc) => d.getText("x").insert(1, "b")).delta;
    expectRejected(engine, doc, later2, { reason: "missing_dependencies" });
    engine.apply(doc, later);
    expect(engine.apply(doc, later2).changed).toBe(true);
    expect(doc.store.pendingStructs).toBeNull();
  });

  it("rejects inserts next to items of a client it has never seen", () => {
    const engine = setup();
    const doc = engine.create();
    expectRejected(engine, doc, stringUpdate([{ client: 5, clock: 0, items: [{ origin: [9, 0], text: "a" }] }]), { reason: "missing_dependencies" });
    expectRejected(engine, doc, stringUpdate([{ client: 5, clock: 0, items: [{ right: [9, 4], text: "a" }] }]), { reason: "missing_dependencies" });
    expectRejected(engine, doc, stringUpdate([{ client: 5, clock: 0, items: [{ parent: [9, 0], text: "a" }] }]), { reason: "missing_dependencies" });
    probe(engine, doc);
  });

  it("rejects deletes of items it has never seen", () => {
    const engine = setup();
    const { doc } = populated(engine);
    expectRejected(engine, doc, deleteUpdate([{ client: 77, clock: 0, len: 1 }]), { reason: "missing_dependencies" });
    expectRejected(engine, doc, deleteUpdate([{ client: doc.clientID, clock: 5, len: 100 }]), { reason: "missing_dependencies" });
    probe(engine, doc);
  });

  it("rejects a struct referring forward to its own client, which makes raw Yjs throw mid-transaction", () => {
    const engine = setup();
    const update = stringUpdate([{ client: 5, clock: 0, items: [{ root: "t", text: "a" }, { origin: [5, 3], text: "b" }] }]);
    expect(() => Y.applyUpdate(new Y.Doc(), update)).toThrow();
    const doc = engine.create();
    expectRejected(engine, doc, update, { reason: "missing_dependencies" });
    expect(doc.share.size).toBe(0);
    probe(engine, doc);
  });

  it("rejects structs of two clients that each wait on the other", () => {
    const engine = setup();
    const doc = engine.create();
    const update = stringUpdate([
      { client: 1, clock: 0, items: [{ origin: [2, 0], text: "a" }] },
      { client: 2, clock: 0, items: [{ origin: [1, 0], text: "b" }] },
    ]);
    expectRejected(engine, doc, update, { reason: "missing_dependencies" });
  });

  it("accepts structs of several clients that depend on each other in a valid order", () => {
    const engine = setup();
    const doc = engine.create();
    const update = stringUpdate([
      { client: 1, clock: 0, items: [{ root: "t", text: "a" }, { origin: [2, 0], text: "c" }] },
      { client: 2, clock: 0, items: [{ origin: [1, 0], text: "b" }] },
    ]);
    expect(engine.apply(doc, update).changed).toBe(true);
    expect(engine.toJSON(doc)).toEqual({ t: "abc" });
  });

  it("rejects a client listed twice, trailing bytes, unknown content and empty structs", () => {
    const engine = setup();
    const doc = engine.create();
    const twice = new Wire().varUint(2);
    for (let i = 0; i < 2; i++) twice.varUint(1).varUint(4).varUint(i).u8(4).varUint(1).string("t").string("a");
    expectRejected(engine, doc, twice.varUint(0).bytes(), { reason: "malformed" });
    const valid = stringUpdate([{ client: 4, clock: 0, items: [{ root: "t", text: "a" }] }]);
    expectRejected(engine, doc, new Uint8Array([...valid, 0]), { reason: "malformed" });
    const unknown = new Wire().varUint(1).varUint(1).varUint(4).varUint(0).u8(11).varUint(1).string("t").varUint(0).bytes();
    expectRejected(engine, doc, unknown, { reason: "malformed" });
    expectRejected(engine, doc, stringUpdate([{ client: 4, clock: 0, items: [{ root: "t", text: "" }] }]), { reason: "malformed" });
    probe(engine, doc);
  });

  it("rejects subdocuments", () => {
    const engine = setup();
    const doc = engine.create();
    const rogue = new Y.Doc();
    rogue.getMap("m").set("sub", new Y.Doc({ guid: "sub" }));
    expectRejected(engine, doc, Y.encodeStateAsUpdate(rogue), { reason: "unsupported_content" });
  });

  it("rejects counts larger than the bytes that follow without allocating for them", () => {
    const engine = setup();
    const doc = engine.create();
    expectRejected(engine, doc, new Wire().varUint(2 ** 40).bytes(), { reason: "malformed" });
    expectRejected(engine, doc, new Wire().varUint(1).varUint(2 ** 31).varUint(4).varUint(0).bytes(), { reason: "malformed" });
    // A varint that never ends (lib0 would read it as NaN).
    expectRejected(engine, doc, new Uint8Array(200).fill(0x80), { reason: "malformed" });
  });

  it("rejects a JSON value nested far past the limit without overflowing the stack", () => {
    const engine = setup();
    const doc = engine.create();
    const depth = 100_000;
    // One ContentAny item in root map "m": `depth` nested arrays.
    const wire = new Wire().varUint(1).varUint(1).varUint(4).varUint(0).u8(8 | 0x20).varUint(1).string("m").string("k").varUint(1);
    for (let i = 0; i < depth; i++) wire.u8(117).varUint(1);
    wire.u8(126);
    expectRejected(engine, doc, wire.varUint(0).bytes(), { reason: "too_deep" });
  });

  it("accepts 64 levels of nested maps and rejects 65", () => {
    const engine = setup();
    const doc = engine.create();
    expectRejected(engine, doc, nestedMaps(65), { reason: "too_deep" });
    expect(engine.apply(doc, nestedMaps(64)).changed).toBe(true);
    expect(JSON.stringify(engine.toJSON(doc)).match(/child/g)).toHaveLength(63);
    probe(engine, doc);
  });

  it("rejects nesting that grows an existing document past the limit, by a type or by a stored value", () => {
    const engine = setup({ maxDepth: 4 });
    const rogue = new Y.Doc();
    const deepest = rogue.transact(() => {
      const level2 = new Y.Map<unknown>();
      rogue.getMap("root").set("a", level2);
      const level3 = new Y.Map<unknown>();
      level2.set("b", level3);
      return level3;
    });
    const doc = engine.create();
    engine.apply(doc, Y.encodeStateAsUpdate(rogue));
    const stateVector = Y.encodeStateVector(rogue);
    rogue.transact(() => deepest.set("c", new Y.Map()));
    const level4 = Y.encodeStateAsUpdate(rogue, stateVector);
    const stateVector4 = Y.encodeStateVector(rogue);
    (deepest.get("c") as Y.Map<unknown>).set("d", new Y.Map());
    const level5 = Y.encodeStateAsUpdate(rogue, stateVector4);
    expect(engine.apply(doc, level4).changed).toBe(true);
    expectRejected(engine, doc, level5, { reason: "too_deep" });

    const values = new Y.Doc();
    Y.applyUpdate(values, Y.encodeStateAsUpdate(rogue, Y.encodeStateVector(new Y.Doc())));
    const before = Y.encodeStateVector(values);
    const c = ((values.getMap("root").get("a") as Y.Map<unknown>).get("b") as Y.Map<unknown>).get("c") as Y.Map<unknown>;
    c.set("value", { too: "deep" }); // a JSON object one level below a depth-4 map
    expectRejected(engine, doc, Y.encodeStateAsUpdate(values, before), { reason: "too_deep" });
    probe(engine, doc);
  });

  it("rejects a snapshot nested deeper than the limit", () => {
    const engine = setup();
    expect(thrown(() => engine.load(nestedMaps(65))).details["reason"]).toBe("too_deep");
    expect(engine.toJSON(engine.load(nestedMaps(64)))).toBeTruthy();
  });

  it("rejects a delta over maxDeltaBytes with too_large", () => {
    const engine = setup({ maxDeltaBytes: 256 });
    const doc = engine.create();
    const writer = engine.create();
    const { delta } = createYjsEngine({ clock: createManualClock(), random: createSeededRandom(2) }).change(writer, (d: Y.Doc) =>
      d.getText("t").insert(0, "x".repeat(1000)),
    );
    expectRejected(engine, doc, delta, { code: "too_large" });
    probe(engine, doc);
  });
});
