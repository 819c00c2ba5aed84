import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createYjsEngine } from "../../src/doc/yjs-engine.ts";
import { computeYjsVersion } from "../../src/doc/yjs-version.ts";
import { canonicalStringify } from "../../src/doc/canonical-json.ts";
import { thrown } from "./rejection-checks.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";

function setup(seed = 1, limits?: { maxDeltaBytes?: number; maxDepth?: number }) {
  return createYjsEngine({ clock: createManualClock(), random: createSeededRandom(seed), ...(limits ? { limits } : {}) });
}

const json = (engine: ReturnType<typeof setup>, doc: Y.Doc): string => canonicalStringify(engine.toJSON(doc));

describe("Yjs engine", () => {
  it("produces a delta from a local edit that another replica applies", () => {
    const engine = setup();
    const a = engine.create();
    const b = engine.create();
    const { delta } = engine.change(a, (doc: Y.Doc) => {
      doc.getText("t").insert(0, "hello");
      doc.getMap("m").set("k", { nested: [1, 2] });
    });
    expect(engine.apply(b, delta).changed).toBe(true);
    expect(json(engine, b)).toBe('{"m":{"k":{"nested":[1,2]}},"t":"hello"}');
  });

  it("returns an empty delta when the edit changes nothing", () => {
    const engine = setup();
    const doc = engine.create();
    const before = engine.version(doc);
    const { delta } = engine.change(doc, (d: Y.Doc) => void d.getText("t"));
    expect(delta.length).toBe(0);
    expect(engine.apply(doc, delta).changed).toBe(false);
    expect(engine.version(doc)).toEqual(before);
  });

  it("reports changed: false when the same delta is applied again", () => {
    const engine = setup();
    const a = engine.create();
    const b = engine.create();
    const { delta } = engine.change(a, (doc: Y.Doc) => doc.getArray("l").push([1, 2, 3]));
    expect(engine.apply(b, delta).changed).toBe(true);
    expect(engine.apply(b, delta).changed).toBe(false);
  });

  it("changes its version on a delete even though the state vector stays put", () => {
    const engine = setup();
    const doc = engine.create();
    engine.change(doc, (d: Y.Doc) => d.getText("t").insert(0, "abc"));
    const stateVector = Y.encodeStateVector(doc);
    const version = engine.version(doc);
    const { delta } = engine.change(doc, (d: Y.Doc) => d.getText("t").delete(1, 1));
    expect(Y.encodeStateVector(doc)).toEqual(stateVector);
    expect(engine.version(doc)).not.toEqual(version);

    // A peer that receives only the delete moves to the same version.
    const peer = engine.create();
    engine.apply(peer, engine.diff(doc, engine.version(peer)));
    expect(engine.version(peer)).toEqual(engine.version(doc));
    expect(engine.apply(peer, delta).changed).toBe(false);
  });

  it("keeps its version exact when content arrives already garbage-collected", () => {
    const engine = setup();
    const a = engine.create();
    engine.change(a, (d: Y.Doc) => {
      const inner = new Y.Map<unknown>();
      d.getMap("m").set("inner", inner);
      inner.set("x", 1);
      inner.set("y", new Y.Text("gone soon"));
    });
    engine.change(a, (d: Y.Doc) => d.getMap("m").set("inner", "replaced"));
    const b = engine.create();
    engine.apply(b, engine.diff(a, engine.version(b)));
    const structs = [...b.store.clients.values()].flat();
    expect(structs.some((struct) => struct instanceof Y.GC)).toBe(true);
    expect(engine.version(b)).toEqual(computeYjsVersion(b));
    expect(engine.version(b)).toEqual(engine.version(a));
    expect(engine.version(a)).toEqual(computeYjsVersion(a));
  });

  it("gives replicas with equal content equal versions and JSON, however they got there", () => {
    const engine = setup();
    const a = engine.create();
    const b = engine.create();
    const d1 = engine.change(a, (doc: Y.Doc) => doc.getText("t").insert(0, "xy")).delta;
    const d2 = engine.change(b, (doc: Y.Doc) => doc.getMap("m").set("k", 1)).delta;
    const d3 = engine.change(a, (doc: Y.Doc) => doc.getText("t").delete(0, 1)).delta;
    // c gets the deltas one by one, typed roots and all; d gets one merged update and never names a root.
    const c = engine.create();
    for (const delta of [d2, d1, d3]) engine.apply(c, delta);
    c.getText("t");
    c.getMap("m");
    const d = engine.create();
    engine.apply(d, Y.mergeUpdates([d1, d2, d3]));
    expect(engine.version(c)).toEqual(engine.version(d));
    expect(json(engine, c)).toBe(json(engine, d));
    expect(json(engine, c)).toBe('{"m":{"k":1},"t":"y"}');
    // Different content, different version.
    engine.change(d, (doc: Y.Doc) => doc.getMap("m").delete("k"));
    expect(engine.version(c)).not.toEqual(engine.version(d));
  });

  it("brings a stale replica up to date with one diff against its version", () => {
    const engine = setup();
    const fresh = engine.create();
    const stale = engine.create();
    engine.apply(stale, engine.change(fresh, (doc: Y.Doc) => doc.getText("t").insert(0, "one ")).delta);
    for (let i = 0; i < 5; i++) engine.change(fresh, (doc: Y.Doc) => doc.getText("t").insert(0, `${i}`));
    engine.change(fresh, (doc: Y.Doc) => doc.getText("t").delete(0, 2));
    const diff = engine.diff(fresh, engine.version(stale));
    expect(engine.apply(stale, diff).changed).toBe(true);
    expect(engine.version(stale)).toEqual(engine.version(fresh));
    expect(json(engine, stale)).toBe(json(engine, fresh));
    // An up-to-date peer gets a diff that changes nothing.
    expect(engine.apply(stale, engine.diff(fresh, engine.version(stale))).changed).toBe(false);
  });

  it("diffs for a peer that is ahead of it in other clients", () => {
    const engine = setup();
    const a = engine.create();
    const b = engine.create();
    engine.apply(b, engine.change(a, (doc: Y.Doc) => doc.getText("t").insert(0, "a")).delta);
    engine.change(b, (doc: Y.Doc) => doc.getText("t").insert(1, "b"));
    engine.change(a, (doc: Y.Doc) => doc.getText("t").insert(0, "c"));
    engine.apply(b, engine.diff(a, engine.version(b)));
    engine.apply(a, engine.diff(b, engine.version(a)));
    expect(engine.version(a)).toEqual(engine.version(b));
    expect(json(engine, a)).toBe(json(engine, b));
  });

  it("includes a version only when it holds all of its structs and deletes", () => {
    const engine = setup();
    const a = engine.create();
    const b = engine.create();
    const empty = engine.version(b);
    engine.apply(b, engine.change(a, (doc: Y.Doc) => doc.getText("t").insert(0, "abcd")).delta);
    const inserted = engine.version(a);
    expect(engine.includes(b, inserted)).toBe(true);
    expect(engine.includes(b, empty)).toBe(true);
    engine.change(a, (doc: Y.Doc) => doc.getText("t").delete(1, 2));
    const deleted = engine.version(a);
    expect(engine.includes(b, deleted)).toBe(false); // same state vector, missing deletes
    expect(engine.includes(a, inserted)).toBe(true);
    engine.change(b, (doc: Y.Doc) => doc.getText("t").delete(1, 1));
    expect(engine.includes(b, deleted)).toBe(false); // only part of the deleted range
    engine.apply(b, engine.diff(a, engine.version(b)));
    expect(engine.includes(b, deleted)).toBe(true);
    engine.change(a, (doc: Y.Doc) => doc.getText("t").insert(0, "z"));
    expect(engine.includes(b, engine.version(a))).toBe(false);
  });

  it("rejects malformed version bytes with invalid_update", () => {
    const engine = setup();
    const doc = engine.create();
    for (const bad of [new Uint8Array([5]), new Uint8Array([1, 1]), new Uint8Array([0, 0, 7]), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]) {
      expect(thrown(() => engine.includes(doc, bad)).code).toBe("invalid_update");
      expect(thrown(() => engine.diff(doc, bad)).code).toBe("invalid_update");
    }
  });

  it("reads root types by content, so a loaded copy whose roots are untyped prints the same JSON", () => {
    const engine = setup();
    const doc = engine.create();
    engine.change(doc, (d: Y.Doc) => {
      d.getText("text").insert(0, "hi");
      d.getArray("strings").push(["a", "b"]);
      d.getMap("map").set("b", 2);
      d.getMap("map").set("a", new Uint8Array([255, 0]));
      const inner = new Y.Map<unknown>();
      d.getMap("map").set("inner", inner);
      inner.set("text", new Y.Text("nested"));
      d.getText("emptied").insert(0, "x");
      d.getText("emptied").delete(0, 1);
      d.getMap("unused");
    });
    const loaded = engine.load(engine.snapshot(doc));
    expect(loaded.share.get("text")).not.toBeInstanceOf(Y.Text);
    expect(json(engine, loaded)).toBe(json(engine, doc));
    expect(json(engine, doc)).toBe('{"map":{"a":{"$bytes":"/wA="},"b":2,"inner":{"text":"nested"}},"strings":["a","b"],"text":"hi"}');
  });

  it("renders XML types canonically", () => {
    const engine = setup();
    const doc = engine.create();
    engine.change(doc, (d: Y.Doc) => {
      const element = new Y.XmlElement("p");
      d.getXmlFragment("xml").insert(0, [element]);
      element.setAttribute("class", "x");
      element.insert(0, [new Y.XmlText("body")]);
    });
    expect(json(engine, doc)).toBe('{"xml":[{"$element":"p","attributes":{"class":"x"},"children":["body"]}]}');
  });

  it("applies a delta to formatted text without letting Yjs add its own formatting tidy-up", () => {
    // Yjs answers a remote change to formatted text with local deletes of its own choosing
    // (cleanupYTextAfterTransaction): writes that no delta carries and no log keeps.
    const engine = setup();
    const writer = engine.create();
    const base = engine.change(writer, (d: Y.Doc) => {
      d.getText("t").insert(0, "abcdef");
      d.getText("t").format(1, 3, { bold: true });
    }).delta;
    const remote = engine.change(writer, (d: Y.Doc) => d.getText("t").format(2, 3, { italic: true })).delta;
    const tidyRequested = (apply: (doc: Y.Doc) => void): boolean => {
      const doc = engine.load(base);
      doc.getText("t"); // an app looking at the text makes it a typed, formatted Y.Text
      let requested = false;
      doc.on("afterTransactionCleanup", (transaction: Y.Transaction) => void (requested ||= transaction._needFormattingCleanup));
      apply(doc);
      return requested;
    };
    expect(tidyRequested((doc) => Y.applyUpdate(doc, remote))).toBe(true);
    expect(tidyRequested((doc) => engine.apply(doc, remote))).toBe(false);
  });

  it("load() rejects a snapshot whose structs would wait on missing data", () => {
    const engine = setup();
    const a = engine.create();
    engine.change(a, (doc: Y.Doc) => doc.getText("t").insert(0, "a"));
    const second = engine.change(a, (doc: Y.Doc) => doc.getText("t").insert(1, "b")).delta;
    const error = thrown(() => engine.load(second));
    expect(error.code).toBe("invalid_update");
    expect(error.details["reason"]).toBe("missing_dependencies");
    expect(error.details["damaged"]).toBeUndefined();
  });

  it("assigns client ids from the injected Random, never 0", () => {
    const ids = (seed: number) => [setup(seed).create().clientID, setup(seed).load(new Uint8Array()).clientID];
    expect(ids(7)).toEqual(ids(7));
    expect(ids(7)).not.toEqual(ids(8));
    for (const id of ids(7)) expect(id).toBeGreaterThan(0);
  });

  it("takes a new client id from the injected Random when an update reuses its own", () => {
    const run = () => {
      const engine = setup(3);
      const doc = engine.create();
      const rogue = new Y.Doc();
      rogue.clientID = doc.clientID;
      rogue.getText("t").insert(0, "mine?");
      const before = doc.clientID;
      engine.apply(doc, Y.encodeStateAsUpdate(rogue));
      expect(doc.clientID).not.toBe(before);
      return doc.clientID;
    };
    expect(run()).toBe(run());
  });

  it("reports an edit that throws as invalid_argument, damaged when it left changes behind", () => {
    const engine = setup();
    const doc = engine.create();
    const clean = thrown(() =>
      engine.change(doc, () => {
        throw new Error("boom");
      }),
    );
    expect(clean.code).toBe("invalid_argument");
    expect(clean.details["damaged"]).toBeUndefined();
    const partial = thrown(() =>
      engine.change(doc, (d: Y.Doc) => {
        d.getText("t").insert(0, "half");
        throw new Error("boom");
      }),
    );
    expect(partial.details["damaged"]).toBe(true);
  });

  it("refuses a local edit deeper than maxDepth and marks the document damaged", () => {
    const engine = setup(1, { maxDepth: 3 });
    const doc = engine.create();
    engine.change(doc, (d: Y.Doc) => d.getMap("root").set("a", { b: 1 })); // depth 2
    const error = thrown(() => engine.change(doc, (d: Y.Doc) => d.getMap("root").set("a", { b: { c: { d: 1 } } })));
    expect(error.details).toMatchObject({ reason: "too_deep", damaged: true });
  });

  it("refuses a local change over maxDeltaBytes and marks the document damaged", () => {
    const engine = setup(1, { maxDeltaBytes: 100 });
    const doc = engine.create();
    const error = thrown(() => engine.change(doc, (d: Y.Doc) => d.getText("t").insert(0, "x".repeat(500))));
    expect(error.code).toBe("too_large");
    expect(error.details["damaged"]).toBe(true);
  });

  it("estimates a size that grows with content", () => {
    const engine = setup();
    const doc = engine.create();
    const empty = engine.sizeEstimate(doc);
    for (let i = 0; i < 50; i++) engine.change(doc, (d: Y.Doc) => d.getArray("l").insert(0, [i]));
    expect(engine.sizeEstimate(doc)).toBeGreaterThan(empty + 50 * 16);
  });
});
