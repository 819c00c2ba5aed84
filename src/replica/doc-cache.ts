/**
 * Loaded documents, bounded by an estimate of their bytes in memory. Least
 * recently used entries go first. Evicting is always safe: a document is
 * reloaded from the store, which holds every acknowledged write.
 */

export interface Sized {
  /** Estimated bytes in memory; re-read on every touch. */
  size: number;
}

export interface DocCache<E extends Sized> {
  get(id: string): E | undefined;
  /** Like get, without counting as a use. */
  peek(id: string): E | undefined;
  set(id: string, entry: E): void;
  /** Re-reads `entry.size` after it changed and evicts down to the budget. */
  resized(id: string): void;
  delete(id: string): void;
  readonly bytes: number;
  readonly count: number;
  readonly evictions: number;
}

export function createDocCache<E extends Sized>(maxBytes: number): DocCache<E> {
  // A Map iterates in insertion order: re-inserting on access makes it an LRU list.
  const entries = new Map<string, E>();
  const sizes = new Map<string, number>();
  let bytes = 0;
  let evictions = 0;

  const account = (id: string, entry: E) => {
    bytes += entry.size - (sizes.get(id) ?? 0);
    sizes.set(id, entry.size);
  };
  const remove = (id: string) => {
    bytes -= sizes.get(id) ?? 0;
    sizes.delete(id);
    entries.delete(id);
  };
  const evict = (keep: string) => {
    for (const id of entries.keys()) {
      if (bytes <= maxBytes) return;
      // The entry just touched stays even when it alone is over budget: the caller is using it.
      if (id === keep) continue;
      remove(id);
      evictions++;
    }
  };

  return {
    get(id) {
      const entry = entries.get(id);
      if (entry) {
        entries.delete(id);
        entries.set(id, entry);
      }
      return entry;
    },
    peek: (id) => entries.get(id),
    set(id, entry) {
      entries.delete(id);
      entries.set(id, entry);
      account(id, entry);
      evict(id);
    },
    resized(id) {
      const entry = entries.get(id);
      if (!entry) return;
      account(id, entry);
      evict(id);
    },
    delete: remove,
    get bytes() {
      return bytes;
    },
    get count() {
      return entries.size;
    },
    get evictions() {
      return evictions;
    },
  };
}
