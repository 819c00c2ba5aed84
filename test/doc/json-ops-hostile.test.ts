/**
 * Hostile JSON ops: values nested past the depth limit are refused before the
 * engine sees them (issue 10, findings 1 and 4), at exactly the limit binary
 * deltas have, and the engine keeps working afterwards.
 */
import { describe, expect, it } from "vitest";
import { createEngine } from "../../src/doc/index.ts";
import { defaultEngineLimits } from "../../src/doc/engine.ts";
import type { JsonOp } from "../../src/doc/json-ops.ts";
import { isConcordError } from "../../src/errors.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";

/** An array nested `depth` levels: [[...[]...]]. */
function nested(depth: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

function outcome(run: () => unknown): string {
  try {
    run();
    return "accepted";
  } catch (error) {
    return isConcordError(error) ? `${error.code}:${String(error.details["reason"] ?? "")}` : `crash:${String(error)}`;
  }
}

const maxDepth = defaultEngineLimits.maxDepth;

describe.each(["yjs", "automerge"] as const)("deep JSON op values (%s)", (kind) => {
  const engine = () => createEngine(kind, { clock: createManualClock(0), random: createSeededRandom(3) });
  const path = ["m", "k"];

  it.each([maxDepth + 1, 1_200, 8_000, 50_000])("refuses a set nested %i deep before it touches the document", (depth) => {
    const e = engine();
    let state = e.create();
    state = e.applyOps(state, [{ op: "set", path, value: 1 }], { docId: "d" }).state;
    const before = JSON.stringify(e.toJSON(state));
    expect(outcome(() => e.applyOps(state, [{ op: "set", path, value: nested(depth) }], { docId: "d" }))).toBe("invalid_argument:too_deep");
    expect(outcome(() => e.applyOps(state, [{ op: "push", path: ["l"], value: nested(depth) }], { docId: "d" }))).toBe("invalid_argument:too_deep");
    // The document, and the engine, still work.
    expect(JSON.stringify(e.toJSON(state))).toBe(before);
    const next = e.applyOps(state, [{ op: "set", path: ["m", "after"], value: 2 }], { docId: "d" });
    expect((e.toJSON(next.state) as { m: { after: number } }).m.after).toBe(2);
    expect(e.load(e.snapshot(next.state))).toBeDefined();
  });

  it("accepts a value that reaches exactly the depth limit, as a binary delta may", () => {
    const e = engine();
    // The map holding "k" is at depth 1 (a root map, or a top-level map), so the value may nest maxDepth - 1.
    const ops: JsonOp[] = [{ op: "set", path, value: nested(maxDepth - 1) }];
    const { state, delta } = e.applyOps(e.create(), ops, { docId: "d" });
    expect(delta.length).toBeGreaterThan(0);
    const other = engine();
    expect(outcome(() => other.apply(other.create(), delta))).toBe("accepted");
    expect(outcome(() => e.load(e.snapshot(state)))).toBe("accepted");
  });
});

describe.each(["yjs", "automerge"] as const)("the work budget of one request (%s)", (kind) => {
  const engine = () => createEngine(kind, { clock: createManualClock(0), random: createSeededRandom(3) });

  it("refuses 1,000 ops of 8 KB strings with too_large before touching the document", () => {
    const e = engine();
    const state = e.create();
    const ops: JsonOp[] = Array.from({ length: 1000 }, (_, i) => ({ op: "set", path: ["m", `k${i}`], value: "x".repeat(8192) }));
    expect(outcome(() => e.applyOps(state, ops, { docId: "d" }))).toBe("too_large:too_many_ops");
    expect(outcome(() => e.applyOps(state, [{ op: "insertText", path: ["t"], index: 0, text: "y".repeat(300_000) }], { docId: "d" }))).toBe("too_large:too_many_ops");
    expect(e.toJSON(state)).toEqual({});
  });

  it("accepts a request just within the budget", () => {
    const e = engine();
    const text = "z".repeat(defaultEngineLimits.maxOpsPerDelta - 1);
    const { state } = e.applyOps(e.create(), [{ op: "insertText", path: ["t"], index: 0, text }], { docId: "d" });
    expect((e.toJSON(state) as { t: string }).t.length).toBe(text.length);
  });
});

describe("the op budget of a binary Automerge delta", () => {
  it("refuses a client delta of more ops than maxOpsPerDelta, and takes the same delta from a region", () => {
    const make = (limit: number) => createEngine("automerge", { clock: createManualClock(0), random: createSeededRandom(4), limits: { maxOpsPerDelta: limit } });
    const writer = make(1_000_000);
    const { delta } = writer.change(writer.create(), (d: any) => void (d.t = "q".repeat(5000)));
    const reader = make(1000);
    expect(outcome(() => reader.apply(reader.create(), delta))).toBe("too_large:too_many_ops");
    expect(outcome(() => reader.apply(reader.create(), delta, { sizeLimit: "snapshot" }))).toBe("accepted");
  });
});
