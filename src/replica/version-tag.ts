/**
 * Fixed-size names for versions: what ETags, If-Match / ifVersion and
 * `?since=` carry. A document's version (Yjs state vector plus delete set,
 * Automerge heads) grows with its writers and its deletes: 10 KB and more
 * after a long edit. A tag is `v1.` and the base64url of a 16-byte BLAKE2b of
 * the version under a fixed, public domain key: 25 characters whatever the
 * document, and equal in every region for equal versions (so a client that
 * fails over still gets its 304s and its conditional writes). It reveals
 * nothing but whether two versions are equal. The "." keeps a tag apart from
 * every long-form version, which is plain base64url.
 *
 * A tag names a version but does not hold it. Where the version itself is
 * needed (a diff `?since=` a tag), the replica looks it up among the versions
 * it handed out recently (VersionTags, in memory, bounded in bytes).
 */
import { keyedHash } from "../crypto/keyed-hash.ts";
import { sodium } from "../crypto/sodium.ts";

const prefix = "v1.";
/** 16 bytes of hash: 22 base64url characters. */
const tagHashBytes = 16;
const tagPattern = /^v1\.[A-Za-z0-9_-]{22}$/;

let domainKey: Uint8Array | undefined;

/** The tag of `version` (its encoded bytes, as DocEngine.version returns them). */
export function versionTag(version: Uint8Array): string {
  // Public on purpose: every region must give one version the same tag.
  domainKey ??= keyedHash(null, "concord/version-tag", 32);
  const hash = keyedHash(domainKey, version, tagHashBytes);
  return prefix + sodium().to_base64(hash, sodium().base64_variants.URLSAFE_NO_PADDING);
}

/** Whether `text` has the form of a tag (as opposed to a long-form, base64url version). */
export function isVersionTag(text: string): boolean {
  return tagPattern.test(text);
}

/** The length of every tag, in characters. */
export const versionTagLength = prefix.length + 22;

/** Makes `target.etag` computed by `compute` on first read (then a plain, writable property). */
export function lazyEtag(target: { etag: string }, compute: () => string): void {
  const settle = (value: string) => {
    Object.defineProperty(target, "etag", { value, enumerable: true, writable: true, configurable: true });
    return value;
  };
  Object.defineProperty(target, "etag", { enumerable: true, configurable: true, get: () => settle(compute()), set: settle });
}

export interface VersionTagsOptions {
  /** Most bytes of versions remembered (plus a fixed overhead per entry). */
  maxBytes: number;
}

/** Per-entry overhead counted besides the version's bytes: the key and the map's own cost. */
const entryOverheadBytes = 128;

/**
 * The versions behind the tags this replica handed out recently, per
 * document, least recently used first out. Only ever a cache: a tag it no
 * longer knows still names a version, and a caller that needs the version
 * falls back to something correct without it (a diff from the start).
 * Entries of a deleted document are not dropped early: a version is clients'
 * ids and clocks, nothing anyone wrote, and no read of a deleted document
 * reaches them.
 */
export class VersionTags {
  private readonly entries = new Map<string, Uint8Array>(); // insertion order is recency order
  private bytes = 0;
  private readonly memo = new WeakMap<Uint8Array, string>();

  constructor(private readonly options: VersionTagsOptions) {}

  /**
   * The tag of `version` of document `id`, remembered so `lookup` finds the
   * version again. Hashed once per version object: the writes of one group
   * commit share one.
   */
  tagOf(id: string, version: Uint8Array): string {
    let tag = this.memo.get(version);
    if (tag === undefined) {
      tag = versionTag(version);
      this.memo.set(version, tag);
    }
    this.remember(id, tag, version);
    return tag;
  }

  /** The version of `id` that `tag` names, if handed out here recently. */
  lookup(id: string, tag: string): Uint8Array | undefined {
    const key = `${id}\n${tag}`;
    const version = this.entries.get(key);
    if (version === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, version);
    return version;
  }

  /** Versions remembered now, and their counted bytes. */
  stats(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  private remember(id: string, tag: string, version: Uint8Array): void {
    const key = `${id}\n${tag}`;
    const known = this.entries.get(key);
    if (known !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, known);
      return;
    }
    const size = version.byteLength + 2 * key.length + entryOverheadBytes;
    if (size > this.options.maxBytes) return;
    this.entries.set(key, version);
    this.bytes += size;
    while (this.bytes > this.options.maxBytes) {
      const [oldest, oldVersion] = this.entries.entries().next().value!;
      this.drop(oldest, oldVersion);
    }
  }

  private drop(key: string, version: Uint8Array): void {
    this.entries.delete(key);
    this.bytes -= version.byteLength + 2 * key.length + entryOverheadBytes;
  }
}
