/**
 * What both engines' convergence properties share: the value, key and edit
 * arbitraries common to Yjs and Automerge, the random script of edits and
 * deliveries run on a ReplicaNet, and the arbitrary-order check.
 */
import fc from "fast-check";
import { expect } from "vitest";
import type { DocEngine } from "../../src/doc/engine.ts";
import { canonicalStringify } from "../../src/doc/canonical-json.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import type { ReplicaNet } from "./replica-net.ts";

export const replicaCount = 3;

export const value = fc.oneof(
  fc.integer({ min: -5, max: 5 }),
  fc.constantFrom("x", "yz", ""),
  fc.boolean(),
  fc.constant(null),
  // Built with a literal: Yjs only stores objects whose constructor is Object.
  fc.integer({ min: 0, max: 3 }).map((n) => ({ n })),
);
// Few keys, so concurrent writes to one key (conflicts) and overwrites of conflicts are common.
export const key = fc.constantFrom("a", "b");

/** Edits both engines make; a suite adds its engine's own to these. */
export const commonEdits = [
  fc.record({ kind: fc.constant("text-insert" as const), pos: fc.nat(20), text: fc.string({ minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant("text-delete" as const), pos: fc.nat(20), len: fc.integer({ min: 1, max: 3 }) }),
  // Weighted up: concurrent writes to one key, then an overwrite of the conflict, must come up often.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("map-set" as const), key, value }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("map-delete" as const), key }) },
  fc.record({ kind: fc.constant("list-push" as const), value }),
  fc.record({ kind: fc.constant("list-delete" as const), pos: fc.nat(10) }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("nested-set" as const), key, inner: key, value }) },
] as const;

export const replica = fc.nat(replicaCount - 1);

/** A script step: an edit somewhere or everywhere, or a delivery of some kind. */
export function action<E>(edit: fc.Arbitrary<E>) {
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ type: fc.constant("edit" as const), r: replica, edit }) },
    // Every replica makes the same kind of edit at once: concurrent writes to the same key, position or counter.
    { weight: 2, arbitrary: fc.record({ type: fc.constant("edit-everywhere" as const), edit }) },
    { weight: 4, arbitrary: fc.record({ type: fc.constant("deliver" as const), r: replica, origin: replica, count: fc.integer({ min: 1, max: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant("combined" as const), r: replica, origin: replica, count: fc.integer({ min: 2, max: 4 }) }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant("pull" as const), r: replica, from: replica }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant("duplicate" as const), r: replica, origin: replica, pick: fc.nat() }) },
  );
}
export type Action<E> = ReturnType<typeof action<E>> extends fc.Arbitrary<infer A> ? A : never;

/**
 * Runs one script step on `net`. `combine` makes one delta of several
 * consecutive deltas of one origin (Yjs merges updates, Automerge change
 * chunks concatenate), as a relay might send them.
 */
export function runAction<S, E>(net: ReplicaNet<S>, a: Action<E>, runEdit: (doc: any, e: E) => void, combine: (deltas: Uint8Array[]) => Uint8Array): void {
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
    case "combined": {
      const start = net.next[a.r]![a.origin]!;
      const group = net.sent[a.origin]!.slice(start, start + a.count);
      if (group.length === 0) break;
      net.next[a.r]![a.origin] = start + group.length;
      net.receive(a.r, combine(group));
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

/** Asserts two states hold the same content: same canonical JSON, same version. */
export function expectSameContent<S>(engine: DocEngine<S>, a: S, b: S): void {
  expect(canonicalStringify(engine.toJSON(a))).toBe(canonicalStringify(engine.toJSON(b)));
  expect(engine.version(a)).toEqual(engine.version(b));
}

/**
 * The arbitrary-order check: writers edit while seeing each other's work (so
 * later deltas depend on earlier ones of other origins); a reader starting
 * from `readerStart` gets every delta in a shuffled order, early ones waiting
 * for their dependencies, and ends with the writers' content.
 */
export function expectConvergesInAnyOrder<S, E>(
  writers: ReplicaNet<S>,
  reader: ReplicaNet<S>,
  edits: Array<{ r: number; edit: E }>,
  runEdit: (doc: any, e: E) => void,
  shuffleSeed: number,
): void {
  const all: Uint8Array[] = [];
  for (const { r, edit } of edits) {
    for (let o = 0; o < writers.size; o++) writers.deliver(r, o, Number.MAX_SAFE_INTEGER);
    const before = writers.sent[r]!.length;
    writers.edit(r, (doc) => runEdit(doc, edit));
    all.push(...writers.sent[r]!.slice(before));
  }
  for (const delta of shuffled(all, shuffleSeed)) reader.receive(0, delta);
  expect(reader.pending[0]).toEqual([]);
  writers.settle();
  writers.expectConverged();
  expectSameContent(writers.engine, reader.states[0]!, writers.states[0]!);
}

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
