import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createYjsEngine } from "../../src/doc/yjs-engine.ts";
import { computeYjsVersion } from "../../src/doc/yjs-version.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { action, commonEdits, expectConvergesInAnyOrder, expectSameContent, replica, replicaCount, runAction } from "./convergence-script.ts";
import { ReplicaNet } from "./replica-net.ts";

const edit = fc.oneof(...commonEdits);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

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
      fc.property(fc.integer(), fc.array(action(edit), { maxLength: 14 }), (seed, actions) => {
        const engine = createYjsEngine({ clock: createManualClock(), random: createSeededRandom(seed) });
        const net = new ReplicaNet(engine, Array.from({ length: replicaCount }, () => engine.create()));
        for (const a of actions) {
          runAction(net, a, runEdit, (group) => Y.mergeUpdates(group));
          // The incrementally kept version always equals one computed from scratch.
          for (const state of net.states) expect(engine.version(state)).toEqual(computeYjsVersion(state));
        }
        net.settle();
        net.expectConverged();
        // A snapshot reloads to the same content and version.
        expectSameContent(engine, engine.load(engine.snapshot(net.states[0]!)), net.states[0]!);
      }),
      { numRuns: 1000 },
    );
  });

  it("converges when every delta arrives in an arbitrary order, early ones waiting until their dependencies arrive", () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.record({ r: replica, edit }), { minLength: 1, maxLength: 10 }), fc.nat(), (seed, edits, shuffleSeed) => {
        const engine = createYjsEngine({ clock: createManualClock(), random: createSeededRandom(seed) });
        const writers = new ReplicaNet(engine, Array.from({ length: replicaCount }, () => engine.create()));
        expectConvergesInAnyOrder(writers, new ReplicaNet(engine, [engine.create()]), edits, runEdit, shuffleSeed);
      }),
      { numRuns: 1000 },
    );
  });
});
