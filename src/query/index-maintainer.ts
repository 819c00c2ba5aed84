/**
 * Keeps index entries in step with documents. For every document it
 * remembers the values its entries hold (as queued for the store, which
 * writes batches in order), and turns a change of content into the writes
 * that move its entries: old entries deleted, new ones added, its I record
 * rewritten. The caller puts those writes in the same atomic store write as
 * the change itself (DocStore.append's `extra`), so after a crash at any
 * point the entries match the content the store holds.
 */
import { assert } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import type { Store, StoreWrite } from "../storage/store.ts";
import type { IndexDefinition, IndexValue } from "./index-definition.ts";
import {
  entryKey, openState, sealEntry, sealState, stateKey, storedIndex,
  type IndexKeys, type IndexState, type StoredIndex,
} from "./index-layout.ts";
import { extractValues } from "./index-values.ts";

/** A document as the maintainer addresses it. */
export interface IndexedDoc {
  readonly id: string;
  readonly hash: Uint8Array;
}

/** Index id (hex) → value: what a document's entries hold. */
export type HeldValues = Record<string, IndexValue>;

export interface IndexMaintainer {
  readonly keys: IndexKeys;
  /** The indexes maintained now (sorted by name). */
  indexes(): readonly StoredIndex[];
  /** Replaces the definitions maintained from now on (a new index is filled by backfill.ts). */
  setDefinitions(defs: readonly IndexDefinition[]): void;
  /** Whether `id` is indexed at all (system and conflict documents are not). */
  indexable(id: string): boolean;
  /** The values the store holds for the document (its I record), or {}. */
  readHeld(hash: Uint8Array): Promise<HeldValues>;
  /** Remembers what a document's entries hold (as read, or as just created). */
  remember(doc: IndexedDoc, held: HeldValues): void;
  /** Whether the document's held values are known (it was loaded or created through the indexed store). */
  knows(doc: IndexedDoc): boolean;
  /**
   * The writes that move the document's entries to what `json()` (its JSON
   * view) holds, remembering the new values; [] when nothing moved. `json` is
   * called only when there is an index. With `force`, entries are written even
   * when the held value looks unchanged (backfill of a re-added index).
   */
  changes(doc: IndexedDoc, json: () => unknown, force?: boolean): StoreWrite[];
  /** The writes that remove every entry of a document holding `held`. */
  removal(hash: Uint8Array, held: HeldValues): StoreWrite[];
  /** What the values of a document's JSON view would be, per index id. */
  valuesOf(json: unknown): HeldValues;
}

export interface IndexMaintainerDeps {
  store: Store;
  keys: IndexKeys;
  random: Random;
  /** False for ids never indexed (the definitions document, kind-conflict documents). */
  indexable: (id: string) => boolean;
}

export function createIndexMaintainer(deps: IndexMaintainerDeps): IndexMaintainer {
  const { store, keys, random } = deps;
  let current: StoredIndex[] = [];
  // Per document handle (one per live document): what its entries hold, as queued.
  const held = new WeakMap<IndexedDoc, HeldValues>();

  const valuesOf = (json: unknown): HeldValues => {
    const byName = extractValues(current.map((i) => i.def), json);
    const out: HeldValues = {};
    for (const index of current) if (index.def.name in byName) out[index.hex] = byName[index.def.name]!;
    return out;
  };

  const stateWrite = (doc: IndexedDoc, values: HeldValues): StoreWrite => {
    const state: IndexState = { id: doc.id, values };
    return Object.keys(values).length === 0 ? { key: stateKey(doc.hash) } : { key: stateKey(doc.hash), value: sealState(keys, doc.hash, state, random) };
  };

  return {
    keys,
    indexes: () => current,
    setDefinitions(defs) {
      current = defs.map((def) => storedIndex(keys, def));
    },
    indexable: deps.indexable,

    async readHeld(hash) {
      const sealed = await store.get(stateKey(hash));
      return sealed ? openState(keys, hash, sealed).values : {};
    },

    remember(doc, values) {
      held.set(doc, values);
    },

    knows: (doc) => held.has(doc),

    changes(doc, json, force = false) {
      const before = held.get(doc);
      if (!deps.indexable(doc.id)) return [];
      assert(before !== undefined, `index values of "${doc.id}" were never read`);
      if (current.length === 0 && Object.keys(before).length === 0) return [];
      const after = valuesOf(json());
      const writes: StoreWrite[] = [];
      let moved = false;
      for (const index of current) {
        const old = before[index.hex];
        const now = after[index.hex];
        if (old === now && !force) continue;
        moved = true;
        if (old !== undefined) writes.push({ key: entryKey(keys, index, old, doc.hash) });
        if (now !== undefined) {
          const key = entryKey(keys, index, now, doc.hash);
          writes.push({ key, value: sealEntry(keys, key, doc.id, random) });
        }
      }
      // Values of indexes no longer defined are dropped from the record (their entries are purged apart).
      const stale = Object.keys(before).some((hex) => !current.some((i) => i.hex === hex));
      if (!moved && !stale) return [];
      writes.push(stateWrite(doc, after));
      held.set(doc, after);
      return writes;
    },

    removal(hash, values) {
      const writes: StoreWrite[] = [{ key: stateKey(hash) }];
      for (const index of current) {
        const old = values[index.hex];
        if (old !== undefined) writes.push({ key: entryKey(keys, index, old, hash) });
      }
      return writes;
    },

    valuesOf,
  };
}
