/**
 * loadConsistent (src/storage/doc-load.ts) under another process that keeps
 * writing the document: a load that keeps mixing two states is "unavailable"
 * (the caller may try again), never "corrupt_record", which says the stored
 * document is damaged. Seen in test/server/postgres-kill.test.ts as a 500
 * "corrupt_record" ("the log of ... holds record N+1 beyond its head N") on a
 * write under six writers of one document over three processes.
 */
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { openKeyring } from "../../src/crypto/keyring.ts";
import { isConcordError } from "../../src/errors.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { bytesEqual } from "../../src/storage/bytes.ts";
import { loadConsistent } from "../../src/storage/doc-load.ts";
import { layout } from "../../src/storage/doc-store-layout.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import type { Store } from "../../src/storage/store.ts";
import { memoryReplica, testKey, unclosable } from "../helpers/replicas.ts";

describe("a load of a document another process keeps writing", () => {
  it("is 'unavailable' after its attempts, not 'corrupt_record', when every attempt read the metadata of one state and the log of the next", async () => {
    const inner = createMemoryStore();
    const replica = await memoryReplica({ store: unclosable(inner) });
    await replica.create("busy", "yjs");
    await replica.change("busy", (doc: Y.Doc) => doc.getText("t").insert(0, "a"));
    const keyring = await openKeyring(inner, testKey(), createSeededRandom(1));
    const metaKey = layout.meta(keyring.docHash("busy"));
    const older = (await inner.get(metaKey))!;
    await replica.change("busy", (doc: Y.Doc) => doc.getText("t").insert(1, "b"));
    const newer = (await inner.get(metaKey))!;
    await replica.close();

    // Each attempt reads the metadata three times (before, in the load, after): the older head twice, then a
    // newer one, as if the next write committed during the load; the log already holds that write's record.
    let metaReads = 0;
    const racing: Store = {
      ...unclosable(inner),
      get: async (key) => (bytesEqual(key, metaKey) ? (metaReads++ % 3 === 2 ? newer : older) : inner.get(key)),
    };
    const error = await loadConsistent(racing, keyring, "busy").then(() => undefined, (e: unknown) => e);
    expect(isConcordError(error, "unavailable"), String(error)).toBe(true);
    expect(String(error)).toMatch(/kept changing while it loaded/);
    expect(metaReads).toBeGreaterThan(3); // it did try again

    // The same mix, with metadata that reads the same before and after: real damage, and said so.
    const stuck: Store = { ...unclosable(inner), get: async (key) => (bytesEqual(key, metaKey) ? older : inner.get(key)) };
    const damage = await loadConsistent(stuck, keyring, "busy").then(() => undefined, (e: unknown) => e);
    expect(isConcordError(damage, "corrupt_record"), String(damage)).toBe(true);
  });
});
