/**
 * The gate between the document store and the cache: at most one live
 * instance per document, and writes only to that one.
 *
 * Two instances of one document would both hand out log sequence numbers, and
 * the second append at a number silently overwrites the first, acknowledged
 * one. So:
 * - loading, creating, replacing and shredding a document each run under a
 *   per-id gate, one at a time per id; a load drains the queued appends before
 *   it reads, and nothing else can install an instance while it runs;
 * - an instance is installed only where the cache has none;
 * - a write takes the instance the cache holds and appends, synchronously
 *   after checking it still does: one evicted, replaced or shredded while the
 *   caller waited is never written to (the write retries on the current one);
 * - shredding retires the cached instance and waits for its writes before the
 *   store deletes anything, and a load queued behind it then finds the
 *   tombstone, so a deleted document is never cached again.
 */
import type { DocEngine, DocKind } from "../doc/engine.ts";
import { assert, ConcordError } from "../errors.ts";
import type { DocHandle, DocStore } from "../storage/doc-store.ts";
import { createDocCache, type DocCache } from "./doc-cache.ts";
import { docFromStore, freshDoc, type LoadedDoc } from "./loaded-doc.ts";
import { versionHash } from "./version-token.ts";

export interface DocSlotsDeps {
  docs: DocStore;
  engines: Record<DocKind, DocEngine<unknown>>;
  cacheMaxBytes: number;
  /** Throws ConcordError("closed") once the replica is closed. */
  checkOpen(): void;
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
   * Swaps the stored document for an empty one of `kind` (DocStore.replace)
   * once the current instance's writes are durable, and installs it.
   */
  replace(id: string, kind: DocKind, created: (doc: LoadedDoc) => void): Promise<LoadedDoc>;
  /** Retires the cached instance, waits for its writes, then runs `remove` (which shreds) under the gate. */
  shred<T>(id: string, remove: () => Promise<T>): Promise<T>;
  /** Drops `doc` if it is the cached instance (it may hold a rejected edit): the next use reloads it. */
  retire(doc: LoadedDoc): void;
}

export function createDocSlots(deps: DocSlotsDeps): DocSlots {
  const { docs, engines } = deps;
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

  const install = (doc: LoadedDoc) => {
    assert(cache.peek(doc.handle.id) === undefined, `a second instance of "${doc.handle.id}" was about to be cached`);
    cache.set(doc.handle.id, doc);
  };

  const load = (id: string) => gated(id, async () => {
    const cached = cache.peek(id);
    if (cached) return cached; // installed by an operation gated before this one
    const stored = await docs.load(id);
    if (!stored) throw new ConcordError("not_found", `document "${id}" does not exist`);
    const doc = docFromStore(stored, engines[stored.kind]);
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
      const cached = cache.get(id);
      if (cached) return cached;
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
        if (cache.peek(id) === doc) return write(doc);
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
    replace(id, kind, created) {
      return gated(id, async () => {
        await retireCached(id);
        const doc = await fresh(kind, (hash) => docs.replace(id, kind, hash));
        install(doc);
        created(doc);
        return doc;
      });
    },
    shred(id, remove) {
      return gated(id, async () => {
        await retireCached(id);
        return remove();
      });
    },
    retire,
  };
}
