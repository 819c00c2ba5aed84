/**
 * Renderings of documents (their JSON views, or their whole states for
 * ?format=update), one per document, keyed by the version they render. A GET
 * checks the document's version (cheap: nothing is built) and sends the
 * cached bytes when they render that version: building the canonical JSON
 * or the state of a large document is milliseconds, and nothing changes
 * between writes.
 *
 * The version is the cache's whole correctness argument: an entry is only
 * ever served for the exact version it was rendered from, and a version
 * names the content exactly (DESIGN "Storage and crypto"). Change and delete
 * events only free memory early (a deleted document's rendering must not
 * outlive its data key in memory longer than the replica's own cache does).
 * Bounded in bytes, least recently used first out.
 */

export interface ViewCacheOptions {
  /** Most bytes held (rendered bodies plus ids and versions). */
  maxBytes: number;
  /** Largest single rendering kept; bigger ones are rendered per request. Default maxBytes / 8. */
  maxEntryBytes?: number;
}

export interface ViewCache {
  /** The rendering of `id` at exactly `version`, or undefined. */
  get(id: string, version: string): Uint8Array | undefined;
  /** Keeps `body` as the rendering of `id` at `version` (replacing any older one), if it fits. */
  set(id: string, version: string, body: Uint8Array): void;
  /** Forgets `id` (changed or deleted). */
  drop(id: string): void;
  /** Entries and bytes held now. */
  stats(): { entries: number; bytes: number };
}

interface Entry {
  version: string;
  body: Uint8Array;
  bytes: number;
}

/** Strings count two bytes per character (V8 may store them in one; this errs on the safe side). */
const entryBytes = (id: string, version: string, body: Uint8Array) => body.byteLength + 2 * (id.length + version.length) + 64;

export function createViewCache(options: ViewCacheOptions): ViewCache {
  const maxEntryBytes = options.maxEntryBytes ?? Math.floor(options.maxBytes / 8);
  const entries = new Map<string, Entry>(); // insertion order is recency order
  let bytes = 0;

  const drop = (id: string) => {
    const entry = entries.get(id);
    if (entry === undefined) return;
    entries.delete(id);
    bytes -= entry.bytes;
  };

  return {
    get(id, version) {
      const entry = entries.get(id);
      if (entry === undefined || entry.version !== version) return undefined;
      entries.delete(id);
      entries.set(id, entry);
      return entry.body;
    },
    set(id, version, body) {
      drop(id);
      const size = entryBytes(id, version, body);
      if (size > maxEntryBytes) return;
      entries.set(id, { version, body, bytes: size });
      bytes += size;
      while (bytes > options.maxBytes) drop(entries.keys().next().value!);
    },
    drop,
    stats: () => ({ entries: entries.size, bytes }),
  };
}
