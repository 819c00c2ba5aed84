/**
 * A DocStore that keeps index entries in the same atomic writes as the
 * documents they describe, for the paths that do not go through the
 * replica's append (where the writer asks the maintainer itself: see
 * src/replica/doc-writer.ts): creation with an initial shape, a repair's
 * rewrite, a kind conflict's swap, a delete. Every handle it hands out has
 * its held values remembered, so later appends can move its entries.
 */
import type { DocEngine, DocKind } from "../doc/engine.ts";
import type { DocHandle, DocStore, NewDoc } from "../storage/doc-store.ts";
import type { HeldValues, IndexMaintainer } from "./index-maintainer.ts";

export interface IndexedDocStoreDeps {
  docs: DocStore;
  maintainer: IndexMaintainer;
  engines: Record<DocKind, DocEngine<unknown>>;
  docHash: (id: string) => Uint8Array;
}

export function createIndexedDocStore(deps: IndexedDocStoreDeps): DocStore {
  const { docs, maintainer: m, engines } = deps;

  /** The JSON view of a new document holding `delta`. */
  const jsonOf = (kind: DocKind, delta: Uint8Array) => {
    const engine = engines[kind];
    return engine.toJSON(engine.apply(engine.create(), delta, { sizeLimit: "snapshot" }).state);
  };

  /** The writes that take a document's entries from what the store holds to those of `delta` (none: empty). */
  const moveTo = async (id: string, kind: DocKind, delta: Uint8Array | undefined) => {
    const probe = { id, hash: deps.docHash(id) };
    if (!m.indexable(id)) return [];
    await docs.drain(); // its last appends' entries are on disk, so its I record is current
    m.remember(probe, await m.readHeld(probe.hash));
    return m.changes(probe, () => (delta === undefined ? {} : jsonOf(kind, delta)));
  };

  return {
    ...docs,

    async load(id) {
      const stored = await docs.load(id);
      if (stored) m.remember(stored, m.indexable(id) ? await m.readHeld(stored.hash) : {});
      return stored;
    },

    async create(id, kind, versionHash) {
      // Not {}: records a salvage left behind (see store-rebuild.ts) must be moved, not shadowed. Read before the
      // creation, not after: nothing writes an absent document's record meanwhile (a creation elsewhere makes this
      // one fail), and a creation then never waits on a read behind its own commit.
      const held = m.indexable(id) ? await m.readHeld(deps.docHash(id)) : {};
      const doc = await docs.create(id, kind, versionHash);
      m.remember(doc, held);
      return doc;
    },

    async createMany(items) {
      const left = await Promise.all(items.map((item) => (m.indexable(item.id) ? m.readHeld(deps.docHash(item.id)) : {})));
      const prepared: Array<NewDoc & { held: HeldValues }> = items.map((item, i) => {
        if (item.delta === undefined || !m.indexable(item.id) || m.indexes().length === 0) return { ...item, held: left[i]! };
        const doc = { id: item.id, hash: deps.docHash(item.id) };
        m.remember(doc, left[i]!);
        const json = jsonOf(item.kind, item.delta);
        const extra = m.changes(doc, () => json);
        return { ...item, extra: [...(item.extra ?? []), ...extra], held: m.valuesOf(json) };
      });
      const results = await docs.createMany(prepared.map(({ held: _held, ...item }) => item));
      results.forEach((result, i) => {
        if (!(result instanceof Error)) m.remember(result, prepared[i]!.held);
      });
      return results;
    },

    async replace(id, kind, versionHash, keep, extra = []) {
      const writes = await moveTo(id, kind, undefined);
      const result = await docs.replace(id, kind, versionHash, keep, [...extra, ...writes]);
      m.remember(result.doc, {});
      if (result.kept) m.remember(result.kept, m.indexable(result.kept.id) ? await m.readHeld(result.kept.hash) : {});
      return result;
    },

    async rewrite(id, kind, delta, versionHash, extra = []) {
      const writes = await moveTo(id, kind, delta);
      const doc = await docs.rewrite(id, kind, delta, versionHash, [...extra, ...writes]);
      m.remember(doc, m.indexable(id) ? m.valuesOf(jsonOf(kind, delta)) : {});
      return doc;
    },

    async delete(id, deletedAt, tombstoneIfAbsent, extra = []) {
      const hash = deps.docHash(id);
      await docs.drain();
      const held = m.indexable(id) ? await m.readHeld(hash) : {};
      return docs.delete(id, deletedAt, tombstoneIfAbsent, [...extra, ...m.removal(hash, held)]);
    },
  } satisfies DocStore as DocStore;
}

export type { DocHandle };
