import * as Automerge from "@automerge/automerge";
import fc from "fast-check";
import { describe, it } from "vitest";
import { createAutomergeEngine } from "../../src/doc/automerge-engine.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { concatBytes } from "../../src/storage/bytes.ts";
import { action, commonEdits, expectConvergesInAnyOrder, expectSameContent, replica, replicaCount, runAction, value } from "./convergence-script.ts";
import { ReplicaNet } from "./replica-net.ts";

const edit = fc.oneof(
  ...commonEdits,
  fc.record({ kind: fc.constant("list-insert" as const), pos: fc.nat(10), value }),
  fc.record({ kind: fc.constant("counter" as const), by: fc.integer({ min: -3, max: 3 }) }),
  fc.record({ kind: fc.constant("mark" as const), pos: fc.nat(20), len: fc.integer({ min: 1, max: 3 }), bold: fc.boolean() }),
);
type Edit = typeof edit extends fc.Arbitrary<infer T> ? T : never;

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
      fc.property(fc.integer(), fc.array(action(edit), { maxLength: 12 }), (seed, actions) => {
        const { engine, replicas } = startReplicas(seed);
        const net = new ReplicaNet(engine, replicas);
        // Change chunks concatenate into one valid delta.
        for (const a of actions) runAction(net, a, runEdit, (group) => concatBytes(...group));
        net.settle();
        net.expectConverged();
        expectSameContent(engine, engine.load(engine.snapshot(net.states[0]!)), net.states[0]!);
      }),
      { numRuns: 1000 },
    );
  });

  it("converges when every delta arrives in an arbitrary order, early ones waiting until their dependencies arrive", () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(fc.record({ r: replica, edit }), { minLength: 1, maxLength: 6 }), fc.nat(), (seed, edits, shuffleSeed) => {
        const { engine, replicas } = startReplicas(seed);
        const reader = new ReplicaNet(engine, [engine.load(engine.snapshot(replicas[0]!))]);
        expectConvergesInAnyOrder(new ReplicaNet(engine, replicas), reader, edits, runEdit, shuffleSeed);
      }),
      // Automerge applies take ~1 ms each; the FIFO property above carries the 1,000 runs.
      { numRuns: 300 },
    );
  });
});
