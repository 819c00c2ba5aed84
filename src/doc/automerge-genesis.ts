/**
 * Genesis changes: the Automerge change that creates one container (a map,
 * list, text or counter under a key of a parent object), made so that every
 * region makes it byte-identically. Its actor is derived from the document
 * id, the parent object, the key, the type and a generation (container-ids.ts);
 * its only dependency is the change that created the parent (none for the
 * root); its time is 0 and it has no message. Two regions creating the same
 * container therefore produce one change with one hash, and Automerge keeps
 * one object, holding both regions' later edits.
 *
 * A container that was created this way and later deleted is created again
 * under the next generation: its put has no predecessors, so it is visible
 * next to the deletion (concurrent edits inside the deleted container stay
 * deleted, as deletions win everywhere).
 */
import * as Automerge from "@automerge/automerge";
import { deterministicActor } from "./container-ids.ts";
import { badOp, type ContainerType } from "./json-ops.ts";

export const rootObjectId = "_root";

/** Generations tried before the op is refused: each is a create-delete cycle of one container. */
const maxGenerations = 64;

export interface GenesisTarget {
  docId: string;
  /** Automerge object id of the parent ("_root", or "counter@actor"). */
  parentId: string;
  /** Hash of the change that created the parent; undefined for the root. */
  creator: string | undefined;
  key: string;
  type: ContainerType;
  /** Empty, except for the simulator's racy-container-create bug (the writer's own actor). */
  salt: string;
}

/** The genesis change for `target` that `doc` does not hold yet. */
export function containerGenesis(doc: Automerge.Doc<unknown>, target: GenesisTarget): Uint8Array {
  const backend = Automerge.getBackend(doc);
  const heads = target.creator === undefined ? [] : [target.creator];
  for (let generation = 0; generation < maxGenerations; generation++) {
    const actor = deterministicActor("container", [target.docId, target.parentId, target.key, target.type, String(generation), target.salt]);
    const fork = backend.fork(actor, heads);
    try {
      createIn(fork, target);
      const hash = fork.commit(null, 0);
      if (hash === null) throw new Error("a genesis change made no change");
      if (!Automerge.hasHeads(doc, [hash])) return fork.getLastLocalChange()!;
    } finally {
      fork.free();
    }
  }
  throw badOp(`"${target.key}" was created and deleted ${maxGenerations} times; create it as part of a new document's initial shape instead`);
}

function createIn(fork: ReturnType<typeof Automerge.getBackend>, target: GenesisTarget): void {
  switch (target.type) {
    case "map":
      fork.putObject(target.parentId, target.key, {});
      return;
    case "list":
      fork.putObject(target.parentId, target.key, []);
      return;
    case "text":
      fork.putObject(target.parentId, target.key, "");
      return;
    case "counter":
      fork.put(target.parentId, target.key, 0, "counter");
  }
}
