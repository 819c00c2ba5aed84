import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createYjsEngine } from "../../src/doc/yjs-engine.ts";
import { computeYjsVersion } from "../../src/doc/yjs-version.ts";
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
  // Built with a literal: Yjs only stores objects whose constructor is Object.
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
  fc.record({ kind: fc.constant("list-delete" as const), pos: fc.nat(10) }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("nested-set" as const), key, inner: key, value }) },
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

const replica = fc.nat(replicaCount - 1);
const action = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant("edit" as const), r: replica, edit }) },
  // Every replica makes the same kind of edit at once: concurrent writes to the same key, position or counter.
  { weight: 2, arbitrary: fc.record({ type: fc.constant("edit-everywhere" as const), edit }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant("deliver" as const), r: replica, origin: replica, count: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("merged" as const), r: replica, origin: replica, count: fc.integer({ min: 2, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("pull" as const), r: replica, from: replica }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant("duplicate" as const), r: replica, origin: replica, pick: fc.nat() }) },
);

function runEdit(doc: Y.Doc, e: Edit): void {
  const text = doc.getText("text");
  const map = doc.getMap("map");
  const list = doc.getArray("list");
  switch (e.kind) {
    case "text-insert":
      text.insert(e.pos % (text.length + 1), e.text);
      break;
    case "text-delete":
      if (text.length > 0) {
        const pos = e.pos % text.length;
        text.delete(pos, Math.min(e.len, text.length - pos));
      }
      break;
    case "map-set":
      map.set(e.key, e.value);
      break;
    case "map-delete":
      map.delete(e.key);
      break;
    case "list-push":
      list.push([e.value]);
      break;
    case "list-delete":
      if (list.length > 0) list.delete(e.pos % list.length, 1);
      break;
    case "nested-set": {
      let inner = map.get(`nested-${e.key}`);
      if (!(inner instanceof Y.Map)) {
        inner = new Y.Map();
        map.set(`nested-${e.key}`, inner);
      }
      (inner as Y.Map<unknown>).set(e.inner, e.value);
      break;
    }
  }
}

describe("Yjs engine convergence", () => {
  it("converges to identical JSON and versions under per-origin FIFO delivery, merged deltas, diffs and duplicates", () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(action, { maxLength: 14 }), (seed, actions) => {
        const engine = createYjsEngine({ clock: createManualClock(), random: createSeededRandom(seed) });
        const net = new ReplicaNet(engine, Array.from({ length: replicaCount }, () => engine.create()));
        for (const a of actions) {
          switch (a.type) {
            case "edit":
              net.edit(a.r, (doc: Y.Doc) => runEdit(doc, a.edit));
              break;
            case "edit-everywhere":
              for (let r = 0; r < net.size; r++) net.edit(r, (doc: Y.Doc) => runEdit(doc, a.edit));
              break;
            case "deliver":
              net.deliver(a.r, a.origin, a.count);
              break;
            case "merged": {
              // Several deltas of one origin grouped into one update, as a relay might send them.
              const start = net.next[a.r]![a.origin]!;
              const group = net.sent[a.origin]!.slice(start, start + a.count);
              if (group.length === 0) break;
              net.next[a.r]![a.origin] = start + group.length;
              net.receive(a.r, Y.mergeUpdates(group));
              break;
            }
            case "pull":
              net.pull(a.r, a.from);
              break;
            case "duplicate":
              net.duplicate(a.r, a.origin, a.pick);
              break;
          }
          // The incrementally kept version always equals one computed from scratch.
          for (const state of net.states) expect(engine.version(state)).toEqual(computeYjsVersion(state));
        }
        net.settle();
        net.expectConverged();
        // A snapshot reloads to the same content and version.
        const reloaded = engine.load(engine.snapshot(net.states[0]!));
        expect(canonicalStringify(engine.toJSON(reloaded))).toBe(canonicalStringify(engine.toJSON(net.states[0]!)));
        expect(engine.version(reloaded)).toEqual(engine.version(net.states[0]!));
      }),
      { numRuns: 1000 },
    );
  });

  it("converges when every delta arrives in an arbitrary order, early ones waiting until their dependencies arrive", () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.record({ r: replica, edit }), { minLength: 1, maxLength: 10 }), fc.nat(), (seed, edits, shuffleSeed) => {
        const engine = createYjsEngine({ clock: createManualClock(), random: createSeededRandom(seed) });
        // Writers edit while seeing each other's work, so later deltas depend on earlier ones of other origins.
        const writers = new ReplicaNet(engine, Array.from({ length: replicaCount }, () => engine.create()));
        const all: Uint8Array[] = [];
        for (const { r, edit: e } of edits) {
          for (let o = 0; o < replicaCount; o++) writers.deliver(r, o, Number.MAX_SAFE_INTEGER);
          const before = writers.sent[r]!.length;
          writers.edit(r, (doc: Y.Doc) => runEdit(doc, e));
          all.push(...writers.sent[r]!.slice(before));
        }
        const order = shuffled(all, shuffleSeed);
        const reader = new ReplicaNet(engine, [engine.create()]);
        for (const delta of order) reader.receive(0, delta);
        expect(reader.pending[0]).toEqual([]);
        writers.settle();
        writers.expectConverged();
        expect(canonicalStringify(engine.toJSON(reader.states[0]!))).toBe(canonicalStringify(engine.toJSON(writers.states[0]!)));
        expect(engine.version(reader.states[0]!)).toEqual(engine.version(writers.states[0]!));
      }),
      { numRuns: 1000 },
    );
  });
});

/** A seeded Fisher–Yates shuffle (fast-check shrinks the seed). */
function shuffled<T>(items: T[], seed: number): T[] {
  const random = createSeededRandom(seed);
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
