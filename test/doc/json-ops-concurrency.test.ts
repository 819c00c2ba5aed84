/**
 * Concurrent first writes through JSON ops: replicas that each create the same
 * container (a list, a map at depth 1 or 2, a counter, a text) from the same
 * state must end up with one object holding every replica's write.
 */
import { describe, expect, it } from "vitest";
import { canonicalStringify } from "../../src/doc/canonical-json.ts";
import type { DocEngine, DocKind } from "../../src/doc/engine.ts";
import { createEngine } from "../../src/doc/index.ts";
import type { JsonOp } from "../../src/doc/json-ops.ts";
import type { InitialShape } from "../../src/doc/initial-shape.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { isConcordError } from "../../src/errors.ts";

const docId = "doc-1";

function codeOf(run: () => void): string | undefined {
  try {
    run();
  } catch (error) {
    return isConcordError(error) ? error.code : `not a ConcordError: ${String(error)}`;
  }
  return undefined;
}

/** `n` replicas of one document, each with its own writer identity. */
function replicas(kind: DocKind, n: number) {
  const engines = Array.from({ length: n }, (_, i) => createEngine(kind, { clock: createManualClock(1000 * i), random: createSeededRandom(7 + i) }));
  const states: unknown[] = engines.map((engine) => engine.create());
  const deltas: Uint8Array[] = [];
  const run = (i: number, step: (engine: DocEngine<unknown>, state: unknown) => { state: unknown; delta: Uint8Array }) => {
    const { state, delta } = step(engines[i]!, states[i]);
    states[i] = state;
    if (delta.length > 0) deltas.push(delta);
  };
  return {
    patch: (i: number, ops: JsonOp[]) => run(i, (engine, state) => engine.applyOps(state, ops, { docId })),
    init: (i: number, shape: InitialShape) => run(i, (engine, state) => engine.initialize(state, docId, shape)),
    /** Delivers every delta to every replica (each in the order made), then returns each replica's JSON. */
    sync(): string[] {
      for (const [i, engine] of engines.entries()) {
        for (const delta of deltas) states[i] = engine.apply(states[i], delta).state;
      }
      deltas.length = 0;
      return engines.map((engine, i) => canonicalStringify(engine.toJSON(states[i])));
    },
    json: (i: number) => engines[i]!.toJSON(states[i]) as Record<string, any>,
  };
}

const cases: Array<{ name: string; kinds: DocKind[]; op: (tag: string) => JsonOp; check: (value: Record<string, any>, tags: string[]) => void }> = [
  {
    name: "push to a list that does not exist yet",
    kinds: ["automerge", "yjs"],
    op: (tag) => ({ op: "push", path: ["items"], value: tag }),
    check: (value, tags) => expect([...value.items].sort()).toEqual(tags),
  },
  {
    name: "set under a map that does not exist yet",
    kinds: ["automerge"],
    op: (tag) => ({ op: "set", path: ["sub", tag], value: 1 }),
    check: (value, tags) => expect(Object.keys(value.sub).sort()).toEqual(tags),
  },
  {
    name: "set two maps deep",
    kinds: ["automerge", "yjs"],
    op: (tag) => ({ op: "set", path: ["meta", "sub", "deeper", tag], value: tag }),
    check: (value, tags) => expect(Object.keys(value.meta.sub.deeper).sort()).toEqual(tags),
  },
  {
    name: "first increment of a counter",
    kinds: ["automerge", "yjs"],
    op: () => ({ op: "increment", path: ["stats", "views"], by: 2 }),
    check: (value, tags) => expect(value.stats.views).toBe(2 * tags.length),
  },
  {
    name: "insert into a text that does not exist yet",
    kinds: ["automerge"],
    op: (tag) => ({ op: "insertText", path: ["sub", "body"], index: 0, text: tag }),
    check: (value, tags) => expect(value.sub.body.length).toBe(tags.join("").length),
  },
];

describe.each(["automerge", "yjs"] as const)("JSON ops on %s documents", (kind) => {
  for (const c of cases.filter((c) => c.kinds.includes(kind))) {
    it(`keeps every region's write on a concurrent ${c.name}`, () => {
      const net = replicas(kind, 3);
      const tags = ["a", "b", "c"];
      tags.forEach((tag, i) => net.patch(i, [c.op(tag)]));
      const [first, ...rest] = net.sync();
      for (const other of rest) expect(other).toBe(first);
      c.check(net.json(0), tags);
      // And later writes from every replica keep landing in the same object.
      tags.forEach((tag, i) => net.patch(i, [c.op(`${tag}2`)]));
      net.sync();
      c.check(net.json(0), [...tags, ...tags.map((t) => `${t}2`)].sort());
    });
  }

  it("counts concurrent increments from every replica", () => {
    const net = replicas(kind, 4);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) net.patch(i, [{ op: "increment", path: ["c", "n"], by: i + 1 }]);
      if (round !== 1) net.sync();
    }
    net.sync();
    for (let i = 0; i < 4; i++) expect(net.json(i).c.n).toBe(3 * (1 + 2 + 3 + 4));
  });

  it("merges documents created with one initial shape in two regions at once", () => {
    const net = replicas(kind, 2);
    const shape = { items: ["first"], meta: { title: "Untitled", sub: {} } };
    net.init(0, shape);
    net.init(1, shape);
    net.patch(0, [{ op: "push", path: ["items"], value: "a" }, { op: "set", path: ["meta", "sub", "a"], value: 1 }]);
    net.patch(1, [{ op: "push", path: ["items"], value: "b" }, { op: "set", path: ["meta", "sub", "b"], value: 2 }]);
    const [a, b] = net.sync();
    expect(a).toBe(b);
    const value = net.json(0);
    expect([...value.items].sort()).toEqual(["a", "b", "first"]);
    expect(value.meta).toEqual({ title: "Untitled", sub: { a: 1, b: 2 } });
  });

  it("recreates a deleted container in one object when two replicas saw the same delete", () => {
    const net = replicas(kind, 2);
    const path = kind === "yjs" ? ["m", "box"] : ["box"];
    net.patch(0, [{ op: "set", path: [...path, "x"], value: 1 }]);
    net.sync();
    net.patch(0, [{ op: "delete", path }]);
    net.sync();
    net.patch(0, [{ op: "set", path: [...path, "a"], value: 1 }]);
    net.patch(1, [{ op: "set", path: [...path, "b"], value: 2 }]);
    const [a, b] = net.sync();
    expect(a).toBe(b);
    const box = path.reduce((v: any, key) => v[key], net.json(0));
    expect(box).toEqual({ a: 1, b: 2 });
  });

  it("refuses an op whose container is another type, and changes nothing", () => {
    const net = replicas(kind, 1);
    const path = kind === "yjs" ? ["m", "v"] : ["v"];
    net.patch(0, [{ op: "set", path, value: 5 }]);
    const before = net.sync()[0];
    expect(codeOf(() => net.patch(0, [{ op: "increment", path, by: 1 }]))).toBe("invalid_argument");
    expect(codeOf(() => net.patch(0, [{ op: "set", path: [...path, "x"], value: 1 }]))).toBe("invalid_argument");
    expect(net.sync()[0]).toBe(before);
  });
});

describe.each(["automerge", "yjs"] as const)("initial shapes (%s)", (kind) => {
  it("adds nothing when the same shape's creation from another region arrived first", () => {
    const net = replicas(kind, 2);
    const shape = { items: ["first"], meta: { title: "Untitled" } };
    net.init(0, shape);
    net.sync(); // replica 1 now holds replica 0's creation
    net.init(1, shape);
    const [a, b] = net.sync();
    expect(a).toBe(b);
    expect(net.json(1)).toEqual(shape);
  });
});
