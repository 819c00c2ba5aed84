/**
 * The view cache alone: an entry is only ever returned for the exact version
 * it was stored under, and the cache stays within its byte budget, least
 * recently used first out.
 */
import { describe, expect, it } from "vitest";
import { createViewCache } from "../../src/server/view-cache.ts";

const bytes = (n: number) => new Uint8Array(n);

describe("view cache", () => {
  it("returns a rendering only for the version it renders, and forgets a document on drop", () => {
    const cache = createViewCache({ maxBytes: 1 << 20 });
    cache.set("a", "v1", bytes(10));
    expect(cache.get("a", "v1")).toEqual(bytes(10));
    expect(cache.get("a", "v2")).toBeUndefined();
    expect(cache.get("b", "v1")).toBeUndefined();
    cache.set("a", "v2", bytes(20));
    expect(cache.get("a", "v1")).toBeUndefined(); // one rendering per document: the newer replaced it
    expect(cache.get("a", "v2")?.length).toBe(20);
    cache.drop("a");
    expect(cache.get("a", "v2")).toBeUndefined();
    expect(cache.stats()).toEqual({ entries: 0, bytes: 0 });
  });

  it("stays within maxBytes, evicting the least recently used, and keeps nothing larger than maxEntryBytes", () => {
    const cache = createViewCache({ maxBytes: 10_000, maxEntryBytes: 4_000 });
    for (const id of ["a", "b", "c"]) cache.set(id, "v", bytes(3_000));
    expect(cache.get("a", "v")).toBeDefined(); // a is now the most recent
    cache.set("d", "v", bytes(3_000));
    expect(cache.stats().bytes).toBeLessThanOrEqual(10_000);
    expect(cache.get("b", "v")).toBeUndefined();
    expect(cache.get("a", "v")).toBeDefined();
    expect(cache.get("d", "v")).toBeDefined();
    cache.set("huge", "v", bytes(5_000));
    expect(cache.get("huge", "v")).toBeUndefined();
    expect(cache.stats().bytes).toBeLessThanOrEqual(10_000);
  });
});
