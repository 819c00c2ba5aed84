/**
 * The raw-bytes pre-checks of Automerge deltas (automerge-change-columns.ts,
 * automerge-precheck.ts): the columns read without wasm agree with
 * Automerge's own decoder, and deltas over the op budget or nested too deep
 * are refused before Automerge decodes them. "Before" is shown without
 * timing: each hostile delta also carries a broken checksum, which
 * Automerge's decoder would report as "malformed", so a too_large or too_deep
 * answer can only come from the pre-check.
 */
import * as Automerge from "@automerge/automerge";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createAutomergeEngine } from "../../src/doc/automerge-engine.ts";
import { readChangeColumns } from "../../src/doc/automerge-change-columns.ts";
import { readLocalChange } from "../../src/doc/automerge-local-change.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { expectRejected, expectStillAccepts } from "./rejection-checks.ts";

const engine = createAutomergeEngine({ clock: createManualClock(1_700_000_000_000), random: createSeededRandom(8) });
const actor = "ab".repeat(16);
const actionCodes: Record<string, number> = { makeMap: 0, set: 1, makeList: 2, del: 3, makeText: 4, inc: 5, makeTable: 6, markBegin: 7, markEnd: 7 };

/** A change of `count` makeMap ops, each inside the one before (seq/startOp/deps as given). */
function nestedChange(count: number, from: { seq: number; startOp: number; parent: string; deps: string[] }): Uint8Array {
  const ops: unknown[] = [];
  for (let i = 0, parent = from.parent; i < count; parent = `${from.startOp + i}@${actor}`, i++) {
    ops.push({ action: "makeMap", obj: parent, key: "c", pred: [] });
  }
  return Automerge.encodeChange({ actor, seq: from.seq, startOp: from.startOp, time: 0, message: null, deps: from.deps, ops } as never);
}

/** `change` with its checksum broken: Automerge's decoder refuses it as malformed. */
function withBadChecksum(change: Uint8Array): Uint8Array {
  const copy = change.slice();
  copy[4] = copy[4]! ^ 0xff;
  return copy;
}

/** Columns read from the raw bytes, compared with what Automerge.decodeChange says about the same change. */
function expectColumnsMatch(change: Uint8Array): void {
  const decoded = Automerge.decodeChange(change);
  const columns = readChangeColumns(change, 1_000_000);
  expect(columns.opCount).toBe(decoded.ops.length);
  expect(columns.startOp).toBe(decoded.startOp);
  expect(columns.actors[0]).toBe(decoded.actor);
  // Collected, then compared once: an expect per op would dominate a 100,000-op change.
  const differing: string[] = [];
  decoded.ops.forEach((op, i) => {
    const obj = columns.objActors[i] === -1 ? "_root" : `${columns.objCounters[i]}@${columns.actors[columns.objActors[i]!]}`;
    if (columns.actions[i] !== actionCodes[op.action] || obj !== op.obj) differing.push(`op ${i}: ${columns.actions[i]} on ${obj}, decoded ${op.action} on ${op.obj}`);
  });
  expect(differing.slice(0, 5)).toEqual([]);
  expectLocalReadMatches(change, decoded);
}

/** What the engine indexes of a local change, read in JS, equals what Automerge decodes (or it defers to Automerge). */
function expectLocalReadMatches(change: Uint8Array, decoded: Automerge.DecodedChange): void {
  const read = readLocalChange(change, decoded.hash!);
  if (read === undefined) {
    expect(decoded.ops.some((op) => op.action === "markBegin" || op.action === "markEnd")).toBe(true);
    return;
  }
  const shape = (c: Automerge.DecodedChange) => ({
    actor: c.actor, seq: c.seq, startOp: c.startOp, deps: [...c.deps].sort(), hash: c.hash,
    ops: c.ops.map((o) => {
      const op = o as unknown as { action: string; obj: string; key?: string; elemId?: string; insert?: boolean; pred: string[]; datatype?: string };
      return [op.action, op.obj, op.key ?? null, op.elemId ?? null, op.insert === true, [...op.pred].sort().join(), op.action === "set" && op.datatype === "counter"].join(" ");
    }),
  });
  const mine = shape(read);
  const theirs = shape(decoded);
  const differing = mine.ops.flatMap((op, i) => (op === theirs.ops[i] ? [] : [`op ${i}: ${op} / ${theirs.ops[i]}`]));
  expect(differing.slice(0, 5)).toEqual([]);
  expect({ ...mine, ops: mine.ops.length }).toEqual({ ...theirs, ops: theirs.ops.length });
}

describe("Automerge change columns", () => {
  it("agree with Automerge's decoder on generated edits by several actors (the local-change reader too)", () => {
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: "small" }, fc.string(), fc.integer(), fc.boolean(), fc.array(tie("v"), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 3 }), tie("v"), { maxKeys: 3, noNullPrototype: true })),
    })).v;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 4 }), value), { minLength: 1, maxLength: 5 }), fc.string({ maxLength: 30 }), (entries, text) => {
        let a = Automerge.init<any>({ actor: "aa".repeat(16) });
        a = Automerge.change(a, (d) => {
          d.text = "";
          for (const [key, v] of entries) d[key] = v;
        });
        // A second actor edits objects the first made: its changes list the first actor among their others.
        let b = Automerge.clone(a, { actor: "bb".repeat(16) });
        b = Automerge.change(b, (d) => {
          Automerge.splice(d, ["text"], 0, 0, text);
          d.list = [1, [2, { three: 3 }]];
          d.counter = new Automerge.Counter(1);
        });
        b = Automerge.change(b, (d) => {
          d.counter.increment(2);
          if (text.length > 1) Automerge.mark(d, ["text"], { start: 0, end: 1, expand: "both" }, "bold", true);
          if (text.length > 0) Automerge.splice(d, ["text"], 0, 1);
          delete d.list;
        });
        for (const change of Automerge.getAllChanges(b)) expectColumnsMatch(change);
      }),
      { numRuns: 40 },
    );
  });

  it("reads a 100,000-character insert and a 50,000-deep nesting exactly", () => {
    const base = Automerge.change(Automerge.init<any>(), (d) => void (d.t = ""));
    const big = Automerge.change(Automerge.clone(base), (d) => Automerge.splice(d, ["t"], 0, 0, "x".repeat(100_000)));
    expectColumnsMatch(Automerge.getLastLocalChange(big)!);
    expectColumnsMatch(nestedChange(50_000, { seq: 1, startOp: 1, parent: "_root", deps: [] }));
  });
});

describe("Automerge pre-checks", () => {
  it("refuses a delta nested 50,000 deep as too_deep before Automerge decodes it", () => {
    const doc = engine.create();
    const deep = nestedChange(50_000, { seq: 1, startOp: 1, parent: "_root", deps: [] });
    expectRejected(engine, doc, withBadChecksum(deep), { reason: "too_deep" });
    expectRejected(engine, doc, deep, { reason: "too_deep" });
    expectStillAccepts(engine, doc, (d) => void (d.ok = true));
  });

  it("counts nesting across the changes of one delta", () => {
    const doc = engine.create();
    const first = nestedChange(40, { seq: 1, startOp: 1, parent: "_root", deps: [] });
    const hash = Automerge.decodeChange(first).hash!;
    const second = nestedChange(40, { seq: 2, startOp: 41, parent: `40@${actor}`, deps: [hash] });
    const delta = new Uint8Array([...first, ...withBadChecksum(second)]);
    expectRejected(engine, doc, delta, { reason: "too_deep" });
    // Each alone is within the limit; the two together (80 levels) are caught by the full check too.
    const { state } = engine.apply(doc, first);
    expectRejected(engine, state, second, { reason: "too_deep" });
  });

  it("refuses a delta over the op budget as too_large before Automerge decodes it", () => {
    const small = createAutomergeEngine({ clock: createManualClock(0), random: createSeededRandom(9), limits: { maxOpsPerDelta: 1000 } });
    const doc = small.create();
    const wide = Automerge.encodeChange({
      actor, seq: 1, startOp: 1, time: 0, message: null, deps: [],
      ops: Array.from({ length: 1001 }, (_, i) => ({ action: "set", obj: "_root", key: `k${i}`, value: i, datatype: "int", pred: [] })),
    } as never);
    expectRejected(small, doc, withBadChecksum(wide), { code: "too_large", reason: "too_many_ops" });
    expectRejected(small, doc, wide, { code: "too_large", reason: "too_many_ops" });
    // A whole state from a region is bounded by bytes, not ops: the same change is taken there.
    expect(small.apply(doc, wide, { sizeLimit: "snapshot" }).changed).toBe(true);
  });

  it("still accepts 64 levels made in one delta", () => {
    const doc = engine.create();
    const { state } = engine.apply(doc, nestedChange(64, { seq: 1, startOp: 1, parent: "_root", deps: [] }));
    expect(JSON.stringify(engine.toJSON(state)).match(/"c"/g)).toHaveLength(64);
  });
});
