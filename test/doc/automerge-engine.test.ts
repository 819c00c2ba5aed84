import * as Automerge from "@automerge/automerge";
import { describe, expect, it } from "vitest";
import { createAutomergeEngine } from "../../src/doc/automerge-engine.ts";
import { canonicalStringify } from "../../src/doc/canonical-json.ts";
import { thrown } from "./rejection-checks.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";

const startMs = 1_700_000_123_456;

function setup(seed = 1, limits?: { maxDeltaBytes?: number; maxDepth?: number }) {
  const clock = createManualClock(startMs);
  const engine = createAutomergeEngine({ clock, random: createSeededRandom(seed), ...(limits ? { limits } : {}) });
  return { engine, clock };
}
type Engine = ReturnType<typeof setup>["engine"];
type Doc = Automerge.Doc<any>;

const json = (engine: Engine, doc: Doc): string => canonicalStringify(engine.toJSON(doc));

describe("Automerge engine", () => {
  it("produces a delta from a local edit that another replica applies", () => {
    const { engine } = setup();
    const { state: a, delta } = engine.change(engine.create(), (doc) => {
      doc.text = "hello";
      doc.map = { k: [1, 2] };
    });
    const { state: b, changed } = engine.apply(engine.create(), delta);
    expect(changed).toBe(true);
    expect(json(engine, b)).toBe(json(engine, a));
    expect(json(engine, b)).toBe('{"map":{"k":[1,2]},"text":"hello"}');
  });

  it("returns an empty delta when the edit changes nothing", () => {
    const { engine } = setup();
    const doc = engine.create();
    const { state, delta } = engine.change(doc, () => {});
    expect(delta.length).toBe(0);
    expect(engine.version(state)).toEqual(engine.version(doc));
    expect(engine.apply(state, delta).changed).toBe(false);
  });

  it("reports changed: false when the same delta is applied again", () => {
    const { engine } = setup();
    const { delta } = engine.change(engine.create(), (doc) => void (doc.n = 1));
    const first = engine.apply(engine.create(), delta);
    expect(first.changed).toBe(true);
    expect(engine.apply(first.state, delta).changed).toBe(false);
  });

  it("uses sorted heads as its version, equal for replicas that merged the same changes in any order", () => {
    const { engine } = setup();
    expect(engine.version(engine.create()).length).toBe(0);
    const base = engine.change(engine.create(), (doc) => void (doc.list = [])).state;
    let a = engine.load(engine.snapshot(base));
    let b = engine.load(engine.snapshot(base));
    const da = engine.change(a, (doc) => doc.list.push("a"));
    const db = engine.change(b, (doc) => doc.list.push("b"));
    a = engine.apply(da.state, db.delta).state;
    b = engine.apply(db.state, da.delta).state;
    expect(engine.version(a)).toEqual(engine.version(b));
    expect(engine.version(a).length).toBe(64); // two concurrent heads
    expect(json(engine, a)).toBe(json(engine, b));
    expect(engine.version(a)).not.toEqual(engine.version(engine.change(a, (doc) => void (doc.more = true)).state));
  });

  it("accepts overwrites, deletes and increments of values that concurrent writers left in conflict", () => {
    const { engine } = setup();
    const base = engine.change(engine.create(), (doc) => {
      doc.key = 0;
      doc.list = [0];
      doc.counter = new Automerge.Counter(0);
    }).state;
    let a = engine.load(engine.snapshot(base));
    let b = engine.load(engine.snapshot(base));
    const da = engine.change(a, (doc) => {
      doc.key = "a";
      doc.list[0] = "a";
      doc.counter = new Automerge.Counter(10);
    });
    const db = engine.change(b, (doc) => {
      doc.key = "b";
      doc.list[0] = "b";
    });
    a = engine.apply(da.state, db.delta).state;
    b = engine.apply(db.state, da.delta).state;
    expect(Object.keys(Automerge.getConflicts(a, "key") ?? {})).toHaveLength(2);
    const overwrite = engine.change(a, (doc) => {
      doc.key = "resolved";
      doc.list[0] = "resolved";
      doc.counter.increment(1);
    });
    b = engine.apply(b, overwrite.delta).state;
    const removal = engine.change(b, (doc) => {
      delete doc.key;
      doc.list.deleteAt(0);
    });
    a = engine.apply(overwrite.state, removal.delta).state;
    expect(engine.toJSON(a)).toEqual({ counter: 11, list: [] });
    expect(engine.version(a)).toEqual(engine.version(removal.state));
  });

  it("brings a stale replica up to date with one diff against its version", () => {
    const { engine } = setup();
    let fresh = engine.change(engine.create(), (doc) => void (doc.text = "start")).state;
    let stale = engine.load(engine.snapshot(fresh));
    for (let i = 0; i < 5; i++) fresh = engine.change(fresh, (doc) => Automerge.splice(doc, ["text"], 0, 0, `${i}`)).state;
    const { state, changed } = engine.apply(stale, engine.diff(fresh, engine.version(stale)));
    expect(changed).toBe(true);
    stale = state;
    expect(engine.version(stale)).toEqual(engine.version(fresh));
    expect(json(engine, stale)).toBe(json(engine, fresh));
    expect(engine.diff(fresh, engine.version(stale)).length).toBe(0);
  });

  it("diffs for a peer whose heads it does not know by sending what the peer might lack", () => {
    const { engine } = setup();
    const shared = engine.change(engine.create(), (doc) => void (doc.n = 1)).state;
    let ahead = engine.load(engine.snapshot(shared));
    let other = engine.load(engine.snapshot(shared));
    ahead = engine.change(ahead, (doc) => void (doc.ahead = true)).state;
    other = engine.change(other, (doc) => void (doc.other = true)).state;
    // `ahead` has never seen `other`'s head.
    other = engine.apply(other, engine.diff(ahead, engine.version(other))).state;
    expect(engine.includes(other, engine.version(ahead))).toBe(true);
    expect(engine.toJSON(other)).toEqual({ ahead: true, n: 1, other: true });
  });

  it("includes a version only when it has every head of it", () => {
    const { engine } = setup();
    const one = engine.change(engine.create(), (doc) => void (doc.n = 1)).state;
    // Snapshot before the next change: an Automerge doc shares memory with its successors.
    const stale = engine.load(engine.snapshot(one));
    const two = engine.change(one, (doc) => void (doc.n = 2)).state;
    expect(engine.includes(two, engine.version(stale))).toBe(true);
    expect(engine.includes(two, new Uint8Array())).toBe(true);
    expect(engine.includes(stale, engine.version(two))).toBe(false);
  });

  it("rejects version bytes that are not whole hashes with invalid_update", () => {
    const { engine } = setup();
    const doc = engine.create();
    expect(thrown(() => engine.includes(doc, new Uint8Array(31))).code).toBe("invalid_update");
    expect(thrown(() => engine.diff(doc, new Uint8Array(33))).code).toBe("invalid_update");
  });

  it("renders counters, texts, raw strings, dates, bytes and uints as canonical JSON", () => {
    const { engine } = setup();
    const { state } = engine.change(engine.create(), (doc) => {
      doc.zeta = 1;
      doc.counter = new Automerge.Counter(3);
      doc.text = "collaborative";
      doc.raw = new Automerge.RawString("plain");
      doc.when = new Date(Date.UTC(2024, 0, 2));
      doc.bytes = new Uint8Array([1, 2, 3]);
      doc.uint = new Automerge.Uint(7);
      doc.nested = { b: null, a: [true, 1.5] };
    });
    const next = engine.change(state, (doc) => doc.counter.increment(2)).state;
    expect(json(engine, next)).toBe(
      '{"bytes":{"$bytes":"AQID"},"counter":5,"nested":{"a":[true,1.5],"b":null},"raw":"plain","text":"collaborative","uint":7,"when":"2024-01-02T00:00:00.000Z","zeta":1}',
    );
  });

  it("stamps changes with the injected clock and the injected actor", () => {
    const first = setup(5);
    const second = setup(5);
    const a = first.engine.change(first.engine.create(), (doc) => void (doc.n = 1));
    const b = second.engine.change(second.engine.create(), (doc) => void (doc.n = 1));
    const decoded = Automerge.decodeChange(a.delta);
    expect(decoded.time).toBe(Math.floor(startMs / 1000));
    expect(decoded.actor).toBe(Automerge.decodeChange(b.delta).actor);
    expect(a.delta).toEqual(b.delta);
    first.clock.advance(5_000);
    expect(Automerge.decodeChange(first.engine.change(a.state, (doc) => void (doc.n = 2)).delta).time).toBe(Math.floor(startMs / 1000) + 5);
    expect(Automerge.getActorId(setup(6).engine.create())).not.toBe(decoded.actor);
  });

  it("reports an edit that throws as invalid_argument and keeps the document usable", () => {
    const { engine } = setup();
    const doc = engine.change(engine.create(), (d) => void (d.n = 1)).state;
    const error = thrown(() =>
      engine.change(doc, (d) => {
        d.n = 2;
        throw new Error("boom");
      }),
    );
    expect(error.code).toBe("invalid_argument");
    expect(error.details["damaged"]).toBeUndefined();
    expect(engine.toJSON(doc)).toEqual({ n: 1 });
    expect(engine.toJSON(engine.change(doc, (d) => void (d.n = 3)).state)).toEqual({ n: 3 });
  });

  it("refuses a local edit deeper than maxDepth and marks the document damaged", () => {
    const { engine } = setup(1, { maxDepth: 3 });
    const doc = engine.change(engine.create(), (d) => void (d.a = { b: { c: 1 } })).state; // a is 1 deep, b 2
    const error = thrown(() => engine.change(doc, (d) => void (d.a.b.c = { d: {} }))); // c 3, d 4
    expect(error.details).toMatchObject({ reason: "too_deep", damaged: true });
  });

  it("load() rejects bytes that are not a snapshot", () => {
    const { engine } = setup();
    const snapshot = engine.snapshot(engine.change(engine.create(), (d) => void (d.text = "some text here")).state);
    for (const bad of [new Uint8Array([1, 2, 3]), snapshot.subarray(0, snapshot.length - 5), new Uint8Array([0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 0, 5, 1])]) {
      const error = thrown(() => engine.load(bad));
      expect(error.code).toBe("invalid_update");
    }
    expect(engine.toJSON(engine.load(snapshot))).toEqual({ text: "some text here" });
  });

  it("estimates a size that grows with content", () => {
    const { engine } = setup();
    let doc = engine.create();
    const empty = engine.sizeEstimate(doc);
    for (let i = 0; i < 20; i++) doc = engine.change(doc, (d) => void (d[`k${i}`] = i)).state;
    expect(engine.sizeEstimate(doc)).toBeGreaterThan(empty + 20 * 64);
  });
});
