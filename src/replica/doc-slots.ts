/**
 * The gate between the document store and the cache: at most one live
 * instance per document, and writes only to that one.
 *
 * Two instances of one document would both hand out log sequence numbers, and
 * the second append at a number silently overwrites the first, acknowledged
 * one. So:
 * - loading, creating, moving aside (kind conflicts) and shredding a
 *   document each run under a per-id gate, one at a time per id; a load
 *   drains the queued appends before it reads, and nothing else can install
 *   an instance while it runs;
 * - an instance is installed only where the cache has none;
 * - a write takes the instance the cache holds and appends, synchronously
 *   after checking it still does: one evicted, moved or shredded while the
 *   caller waited is never written to (the write retries on the current one);
 * - shredding retires the cached instance and waits for its writes before the
 *   store deletes anything, and a load queued behind it then finds the
 *   tombstone, so a deleted document is never cached again.
 */
import type { DocQuarantine } from "./doc-quarantine.ts";
import type { DocEngine, DocKind } from "../doc/engine.ts";
import { assert, ConcordError, isConcordError } from "../errors.ts";
import type { DocHandle, DocStore, NewDoc } from "../storage/doc-store.ts";
import { createDocCache, type DocCache } from "./doc-cache.ts";
import { docFromStore, freshDoc, type LoadedDoc } from "./loaded-doc.ts";
import { versionHash } from "./version-token.ts";

export interface DocSlotsDeps {
  docs: DocStore;
  engines: Record<DocKind, DocEngine<unknown>>;
  cacheMaxBytes: number;
  /** Throws ConcordError("closed") once the replica is closed. */
  checkOpen(): void;
  /** Documents refused for crashing their engine again and again: checked before every load and use. */
  quarantine: DocQuarantine;
}

export interface DocSlots {
  readonly cache: DocCache<LoadedDoc>;
  /** The cached instance, or one loaded from the store. ConcordError "not_found", "deleted", "corrupt_record". */
  get(id: string): Promise<LoadedDoc>;
  /**
   * Calls `write` with the instance the cache holds, synchronously after
   * checking that it still holds it. `write` must append (if it appends)
   * before its first await. Throws what get() throws.
   */
  write<T>(id: string, write: (doc: LoadedDoc) => T): Promise<T>;
  /**
   * Creates an empty document and installs it; `created` runs synchronously
   * after, before any other caller sees the instance. Throws "exists", "deleted".
   */
  create(id: string, kind: DocKind, created: (doc: LoadedDoc) => void): Promise<LoadedDoc>;
  /**
   * Creates many documents (distinct new ids) in one store write under all
   * their gates (DocStore.createMany), caching none: each loads on first use.
   * `created` runs synchronously after the write for each one created, before
   * any other caller can load it. Per item: its handle, or the ConcordError
   * ("exists", "deleted") that kept it out.
   */
  createMany(items: readonly NewDoc[], created: (handle: DocHandle, index: number) => void): Promise<Array<DocHandle | ConcordError>>;
  /**
   * Resolves a kind conflict (see remote-apply.ts) under the gates of `id`
   * and then `conflictId`: once the current instances' writes are durable,
   * moves the whole content of `id` into `conflictId` (merged into it when it
   * exists; dropped only when it was shredded here) and swaps `id` for an
   * empty document of `winning`, in one store write (DocStore.replace with
   * `keep`). `moved` runs synchronously after both are installed, with the
   * conflict document and the delta appended to it (none when shredded).
   * Does nothing unless `id` still holds `losing` once inside the gate: a
   * concurrent call may have swapped it already, and the document of the
   * winning kind may hold acknowledged writes since.
   */
  moveAside(
    id: string, losing: DocKind, winning: DocKind, conflictId: string,
    moved: (doc: LoadedDoc, kept: { doc: LoadedDoc; delta: Uint8Array } | undefined) => void,
  ): Promise<void>;
  /**
   * Retires the cached instance, waits for its writes, then runs `remove` (which shreds) under the gate.
   * `check`, if given, first sees the document (the cached instance, else one loaded from the store without
   * caching it; not called when there is none) in the same synchronous step that retires it, so no write
   * lands between the check and the shred; a throw from it stops the shred and changes nothing.
   */
  shred<T>(id: string, check: ((doc: LoadedDoc) => void) | undefined, remove: () => Promise<T>): Promise<T>;
  /** Drops `doc` if it is the cached instance (it may hold a rejected edit): the next use reloads it. */
  retire(doc: LoadedDoc): void;
  /**
   * Ids whose last load failed with "corrupt_record" (at most
   * `maxDamagedIds`, oldest dropped first): anti-entropy marks them as
   * differing from every peer, which makes it fetch and repair them.
   */
  readonly damaged: ReadonlySet<string>;
  /**
   * Under the gate of `id`: if it still fails to load with "corrupt_record",
   * swaps its records for `delta` at seq 1 (DocStore.rewrite) and returns
   * true; false when it loads (repaired meanwhile, or never damaged) or is absent.
   */
  rewriteDamaged(id: string, kind: DocKind, delta: Uint8Array, versionHash: Uint8Array): Promise<boolean>;
  /**
   * Under the gate of `id`, unless it is cached (a live instance was checked
   * when it loaded): loads it from the store, with every check, without
   * caching it, and notes it as damaged if it fails them. Throws only what
   * concerns the whole replica ("closed", "unavailable").
   */
  verify(id: string): Promise<void>;
}

/** Bounds the damaged-id set: beyond it, the oldest are forgotten (a later load finds them again). */
export const maxDamagedIds = 10_000;

export function createDocSlots(deps: DocSlotsDeps): DocSlots {
  const { docs, engines, quarantine } = deps;
  const cache = createDocCache<LoadedDoc>(deps.cacheMaxBytes);
  // Tail of each id's chain of gated operations; removed once the chain is idle.
  const gates = new Map<string, Promise<unknown>>();
  // Loads in progress, shared by every caller that missed the cache meanwhile.
  const loading = new Map<string, Promise<LoadedDoc>>();

  const gated = <T>(id: string, task: () => Promise<T>): Promise<T> => {
    const previous = gates.get(id) ?? Promise.resolve();
    const run = previous.then(task);
    const tail = run.then(() => undefined, () => undefined);
    gates.set(id, tail);
    void tail.then(() => {
      if (gates.get(id) === tail) gates.delete(id);
    });
    return run;
  };

  /**
   * gated() for many ids at once: `task` runs once it holds every one's gate.
   * It queues on all of them in one synchronous step, so any two callers
   * queue in the same order on the ids they share and cannot deadlock;
   * moveAside, which takes a second gate while holding one, only ever takes
   * a conflict id second, and createMany is never given conflict ids.
   */
  const gatedAll = <T>(ids: readonly string[], task: () => Promise<T>): Promise<T> => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const entered = ids.map((id) => new Promise<void>((enter) => void gated(id, () => {
      enter();
      return held;
    })));
    return Promise.all(entered).then(task).finally(release);
  };

  const install = (doc: LoadedDoc) => {
    assert(cache.peek(doc.handle.id) === undefined, `a second instance of "${doc.handle.id}" was about to be cached`);
    cache.set(doc.handle.id, doc);
  };

  const damaged = new Set<string>();
  const noteDamaged = (id: string) => {
    damaged.delete(id);
    damaged.add(id);
    if (damaged.size > maxDamagedIds) damaged.delete(damaged.values().next().value!);
  };

  /** The document from the store, replayed; notes (or clears) it as damaged. */
  const fromStore = async (id: string): Promise<LoadedDoc | undefined> => {
    quarantine.check(id);
    try {
      const stored = await docs.load(id);
      const doc = stored && docFromStore(stored, engines[stored.kind]);
      damaged.delete(id);
      return doc;
    } catch (error) {
      if (isConcordError(error, "corrupt_record")) noteDamaged(id);
      quarantine.noteFailure(id, error);
      throw error;
    }
  };

  const load = (id: string) => gated(id, async () => {
    const cached = cache.peek(id);
    if (cached) return cached; // installed by an operation gated before this one
    const doc = await fromStore(id);
    if (!doc) throw new ConcordError("not_found", `document "${id}" does not exist`);
    install(doc);
    return doc;
  });

  const fresh = (kind: DocKind, makeHandle: (hash: Uint8Array) => Promise<DocHandle>) => {
    const engine = engines[kind];
    const empty = engine.create();
    return makeHandle(versionHash(engine.version(empty))).then((handle) => freshDoc(handle, engine, empty));
  };

  const retire = (doc: LoadedDoc) => {
    if (cache.peek(doc.handle.id) === doc) cache.delete(doc.handle.id);
  };

  /** Retires the cached instance of `id` and resolves once its writes are settled. */
  const retireCached = async (id: string) => {
    const cached = cache.peek(id);
    if (!cached) return;
    retire(cached);
    await cached.lastWrite.catch(() => undefined);
  };

  const get = async (id: string): Promise<LoadedDoc> => {
    for (;;) {
      deps.checkOpen();
      quarantine.check(id);
      const cached = cache.get(id);
      // Its engine crashed and was replaced since it loaded (an Automerge wasm trap): reload it from the store.
      if (cached && cached.engine.isLive?.(cached.state) === false) retire(cached);
      else if (cached) return cached;
      let pending = loading.get(id);
      if (!pending) {
        pending = load(id).finally(() => loading.delete(id));
        loading.set(id, pending);
      }
      const doc = await pending;
      // Evicted, replaced or shredded while this caller waited: go round and use the current instance.
      if (cache.peek(id) === doc) return doc;
    }
  };

  return {
    cache,
    get,
    async write(id, write) {
      for (;;) {
        const doc = await get(id);
        if (cache.peek(id) !== doc) continue;
        try {
          return write(doc);
        } catch (error) {
          quarantine.noteFailure(id, error); // a write that trapped the engine counts against the document too
          throw error;
        }
      }
    },
    create(id, kind, created) {
      return gated(id, async () => {
        // A cached instance means the store has the document: DocStore.create would say "exists" too.
        if (cache.peek(id)) throw new ConcordError("exists", `document "${id}" already exists`);
        const doc = await fresh(kind, (hash) => docs.create(id, kind, hash));
        install(doc);
        created(doc);
        return doc;
      });
    },
    createMany(items, created) {
      return gatedAll(items.map((i) => i.id), async () => {
        const results = items.map((item): DocHandle | ConcordError | undefined =>
          // A cached instance means the store has the document: DocStore.createMany would say "exists" too.
          cache.peek(item.id) ? new ConcordError("exists", `document "${item.id}" already exists`) : undefined);
        const fresh = items.filter((_, i) => results[i] === undefined);
        const stored = await docs.createMany(fresh);
        let next = 0;
        return results.map((early, index) => {
          if (early) return early;
          const result = stored[next++]!;
          if (!(result instanceof ConcordError)) created(result, index);
          return result;
        });
      });
    },
    moveAside(id, losing, winning, conflictId, moved) {
      assert(id !== conflictId && losing !== winning, "a kind conflict moves one kind's content to another id");
      // Gates are taken in this order only (a conflict id never has a conflict of its own), so no cycle.
      return gated(id, () => gated(conflictId, async () => {
        const current = cache.peek(id);
        if (current && current.handle.kind !== losing) return;
        // From the store, after the live instance's writes: what was acknowledged is exactly what moves.
        await retireCached(id);
        const stored = await docs.load(id);
        if (!stored || stored.kind !== losing) return; // the next get() loads whatever is there
        const loser = docFromStore(stored, engines[losing]);
        await retireCached(conflictId);
        let target: LoadedDoc | undefined;
        let shredded = false;
        try {
          const storedTarget = await docs.load(conflictId);
          target = storedTarget && docFromStore(storedTarget, engines[storedTarget.kind]);
        } catch (error) {
          if (!isConcordError(error, "deleted")) throw error;
          shredded = true; // deleted here on purpose: deletions win, as for any write racing one
        }
        if (target && target.handle.kind !== losing) {
          throw new ConcordError("corrupt_record", `conflict document "${conflictId}" holds ${target.handle.kind}, not ${losing}`);
        }
        const engine = engines[losing];
        let keep: { delta: Uint8Array; state: unknown } | undefined;
        if (!shredded) {
          const base = target?.state ?? engine.create();
          // What the conflict document lacks of the loser, validated like any delta before anything is written.
          const delta = engine.diff(loser.state, engine.version(base));
          keep = { delta, state: engine.apply(base, delta, { sizeLimit: "snapshot" }).state };
        }
        const winner = engines[winning];
        const empty = winner.create();
        const { doc: handle, kept } = await docs.replace(id, winning, versionHash(winner.version(empty)), keep && {
          doc: target?.handle ?? { id: conflictId, kind: losing },
          seq: (target?.seq ?? 0) + 1,
          delta: keep.delta,
          versionHash: versionHash(engine.version(keep.state)),
        });
        const doc = freshDoc(handle, winner, empty);
        install(doc);
        let keptDoc: LoadedDoc | undefined;
        if (keep && kept) {
          keptDoc = target ?? freshDoc(kept, engine);
          keptDoc.state = keep.state;
          keptDoc.seq++;
          keptDoc.logBytes += keep.delta.length;
          keptDoc.size = engine.sizeEstimate(keep.state);
          install(keptDoc);
        }
        moved(doc, keptDoc && keep && { doc: keptDoc, delta: keep.delta });
      }));
    },
    shred(id, check, remove) {
      return gated(id, async () => {
        if (check) {
          // Not cached: no write can reach it while the gate is held (a write's load queues behind it).
          const doc = cache.peek(id) ?? await fromStore(id).catch((error: unknown) => {
            if (isConcordError(error, "not_found")) return undefined;
            throw error;
          });
          if (doc) check(doc); // synchronously followed by the retirement below when the doc is the cached one
        }
        await retireCached(id);
        return remove();
      });
    },
    retire,
    damaged,
    verify(id) {
      return gated(id, async () => {
        if (cache.peek(id)) return;
        try {
          await fromStore(id);
        } catch (error) {
          if (isConcordError(error, "closed") || isConcordError(error, "unavailable")) throw error;
        }
      });
    },
    rewriteDamaged(id, kind, delta, hash) {
      return gated(id, async () => {
        if (cache.peek(id)) return false; // it loaded: whatever the peer sent is merged by ordinary replication
        try {
          await fromStore(id);
          return false;
        } catch (error) {
          if (!isConcordError(error, "corrupt_record")) throw error;
        }
        await docs.rewrite(id, kind, delta, hash);
        damaged.delete(id);
        return true;
      });
    },
  };
}
