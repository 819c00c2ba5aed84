import * as Automerge from "@automerge/automerge";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createAutomergeEngine } from "../../src/doc/automerge-engine.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { canonicalStringify } from "../../src/doc/canonical-json.ts";
import { ReplicaNet } from "./replica-net.ts";

const replicaCount = 3;

const value = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom("x", "yz", ""),
  fc.boolean(),
  fc.constant(null),
  fc.integer({ min: 0, max: 3 }).map((n) => ({ n })),
);
// Few keys, so concurrent writes to one key (conflicts) and overwrites of conflicts are common.
const key = fc.constantFrom("a", "b");

const edit = fc.oneof(
  fc.record({ kind: fc.constant("text-insert" as const), pos: fc.nat(20), text: fc.string({ minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant("text-delete" as const), pos: fc.nat(20), len: fc.integer({ min: 1, max: 3 }) }),
  // Weighted up: concurrent writes to one key, then an overwrite of the conflict, must come up often.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("map-set" as const), key, value }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("map-delete" as const), key }) },
  fc.record({ kind: fc.constant("list-push" as const), value }),
  fc.record({ kind: fc.constant("list-insert" as const), pos: fc.nat(10), value }),
  fc.record({ kind: fc.constant("list-delete" as const), pos: fc.nat(10) }),
  fc.record({ kind: fc.constant("counter" as const), by: fc.integer({ min: -3, max: 3 }) }),
  fc.record({ kind: fc.constant("mark" as const), pos: fc.nat(20), len: fc.integer({ min: 1, max: 3 }), bold: fc.boolean() }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("nested-set" as const), key, inner: key, value }) },
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

const replica = fc.nat(replicaCount - 1);
const action = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant("edit" as const), r: replica, edit }) },
  // Every replica makes the same kind of edit at once: concurrent writes to the same key, position or counter.
  { weight: 2, arbitrary: fc.record({ type: fc.constant("edit-everywhere" as const), edit }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant("deliver" as const), r: replica, origin: replica, count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("concatenated" as const), r: replica, origin: replica, count: fc.integer({ min: 2, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("pull" as const), r: replica, from: replica }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("duplicate" as const), r: replica, origin: replica, pick: fc.nat() }) },
);

function runEdit(doc: any, e: Edit): void {
  switch (e.kind) {
    case "text-insert":
      Automerge.splice(doc, ["text"], e.pos % (doc.text.length + 1), 0, e.text);
      break;
    case "text-delete":
      if (doc.text.length > 0) {
        const pos = e.pos % doc.text.length;
        Automerge.splice(doc, ["text"], pos, Math.min(e.len, doc.text.length - pos));
      }
      break;
    case "map-set":
      doc.map[e.key] = e.value;
      break;
    case "map-delete":
      delete doc.map[e.key];
      break;
    case "list-push":
      doc.list.push(e.value);
      break;
    case "list-insert":
      doc.list.insertAt(e.pos % (doc.list.length + 1), e.value);
      break;
    case "list-delete":
      if (doc.list.length > 0) doc.list.deleteAt(e.pos % doc.list.length);
      break;
    case "counter":
      doc.counter.increment(e.by);
      break;
    case "mark":
      if (doc.text.length > 0) {
        const start = e.pos % doc.text.length;
        Automerge.mark(doc, ["text"], { start, end: Math.min(doc.text.length, start + e.len), expand: "after" }, "bold", e.bold);
      }
      break;
    case "nested-set": {
      const name = `nested-${e.key}`;
      const inner = doc.map[name];
      if (inner !== null && typeof inner === "object" && !Array.isArray(inner)) inner[e.inner] = e.value;
      else doc.map[name] = { [e.inner]: e.value };
      break;
    }
  }
}

/** Replicas that all start from one shared base document (else each would make its own "text" object). */
function startReplicas(seed: number) {
  const engine = createAutomergeEngine({ clock: createManualClock(1_700_000_000_000), random: createSeededRandom(seed) });
  const { state: base } = engine.change(engine.create(), (doc: any) => {
    doc.text = "";
    doc.map = {};
    doc.list = [];
    doc.counter = new Automerge.Counter(0);
  });
  const snapshot = engine.snapshot(base);
  return { engine, replicas: Array.from({ length: replicaCount }, () => engine.load(snapshot)) };
}

describe("Automerge engine convergence", () => {
  it("converges to identical JSON and versions under per-origin FIFO delivery, concatenated deltas, diffs and duplicates", () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(action, { maxLength: 12 }), (seed, actions) => {
        const { engine, replicas } = startReplicas(seed);
        const net = new ReplicaNet(engine, replicas);
        for (const a of actions) {
          switch (a.type) {
            case "edit":
              net.edit(a.r, (doc) => runEdit(doc, a.edit));
              break;
            case "edit-everywhere":
              for (let r = 0; r < net.size; r++) net.edit(r, (doc) => runEdit(doc, a.edit));
              break;
            case "deliver":
              net.deliver(a.r, a.origin, a.count);
              break;
            case "concatenated": {
              // Change chunks concatenate into one valid delta.
              const start = net.next[a.r]![a.origin]!;
              const group = net.sent[a.origin]!.slice(start, start + a.count);
              if (group.length === 0) break;
              net.next[a.r]![a.origin] = start + group.length;
              net.receive(a.r, concat(group));
              break;
            }
            case "pull":
              net.pull(a.r, a.from);
              break;
            case "duplicate":
              net.duplicate(a.r, a.origin, a.pick);
              break;
          }
        }
        net.settle();
        net.expectConverged();
        const reloaded = engine.load(engine.snapshot(net.states[0]!));
        expect(canonicalStringify(engine.toJSON(reloaded))).toBe(canonicalStringify(engine.toJSON(net.states[0]!)));
        expect(engine.version(reloaded)).toEqual(engine.version(net.states[0]!));
      }),
      { numRuns: 1000 },
    );
  });

  it("converges when every delta arrives in an arbitrary order, early ones waiting until their dependencies arrive", () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.record({ r: replica, edit }), { minLength: 1, maxLength: 6 }), fc.nat(), (seed, edits, shuffleSeed) => {
        const { engine, replicas } = startReplicas(seed);
        const writers = new ReplicaNet(engine, replicas);
        const all: Uint8Array[] = [];
        for (const { r, edit: e } of edits) {
          for (let o = 0; o < replicaCount; o++) writers.deliver(r, o, Number.MAX_SAFE_INTEGER);
          const before = writers.sent[r]!.length;
          writers.edit(r, (doc) => runEdit(doc, e));
          all.push(...writers.sent[r]!.slice(before));
        }
        const random = createSeededRandom(shuffleSeed);
        const order = all.map((delta) => ({ delta, key: random.float() })).sort((a, b) => a.key - b.key);
        const reader = new ReplicaNet(engine, [engine.load(engine.snapshot(replicas[0]!))]);
        for (const { delta } of order) reader.receive(0, delta);
        expect(reader.pending[0]).toEqual([]);
        writers.settle();
        writers.expectConverged();
        expect(canonicalStringify(engine.toJSON(reader.states[0]!))).toBe(canonicalStringify(engine.toJSON(writers.states[0]!)));
        expect(engine.version(reader.states[0]!)).toEqual(engine.version(writers.states[0]!));
      }),
      // Automerge applies take ~1 ms each; the FIFO property above carries the 1,000 runs.
      { numRuns: 300 },
    );
  });
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
