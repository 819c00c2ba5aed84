/**
 * Fixed-size version tags (DocHead.etag, WriteAck.etag) and conditional
 * writes (`ifVersion`): a stale condition changes nothing, a current one
 * applies, and of concurrent writes conditional on one version exactly one
 * applies, for update, patch, change and delete.
 */
import * as Automerge from "@automerge/automerge";
import * as Y from "yjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.ts";
import type { Replica } from "../../src/replica/replica.ts";
import { isVersionTag, versionTag, versionTagLength } from "../../src/replica/version-tag.ts";
import { decodeVersion } from "../../src/replica/version-token.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

let replica: Replica;
beforeEach(async () => {
  replica = await memoryReplica({ region: "test" });
});
afterEach(async () => replica.close());

/** The error `promise` rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => expect.fail("expected a rejection"), (error: unknown) => error);
}

const setTitle = (title: string) => [{ op: "set" as const, path: ["meta", "title"], value: title }];

describe("version tags", () => {
  it("keeps the etag 25 characters while the version grows with writers and deletes", async () => {
    await replica.create("y", "yjs");
    const first = await replica.head("y");
    expect(first.etag).toHaveLength(versionTagLength);
    const seen = new Set([first.etag]);
    // 60 writers, each inserting then deleting: the state vector and delete set both grow.
    for (let writer = 1; writer <= 60; writer++) {
      const client = yjsClient(writer);
      Y.applyUpdate(client.doc, await replica.encodeState("y"));
      const text = client.doc.getText("text");
      const before = client.updates.length;
      text.insert(0, `w${writer} `);
      text.delete(0, 1);
      for (const update of client.updates.slice(before)) {
        const ack = await replica.update("y", update);
        expect(ack.etag).toHaveLength(versionTagLength);
        seen.add(ack.etag);
      }
    }
    const last = await replica.head("y");
    expect(last.version.length).toBeGreaterThan(10 * first.version.length);
    expect(last.etag).toHaveLength(versionTagLength);
    expect(isVersionTag(last.etag)).toBe(true);
    expect(seen.size).toBe(121); // every version its own tag
  });

  it("names a version the same way in every replica, and an Automerge document too", async () => {
    const other = await memoryReplica({ region: "other" });
    try {
      await replica.create("a", "automerge");
      await replica.patch("a", setTitle("t"));
      await other.create("a", "automerge");
      await other.update("a", await replica.diff("a", (await other.head("a")).version));
      const [here, there] = [await replica.head("a"), await other.head("a")];
      expect(there.version).toBe(here.version);
      expect(there.etag).toBe(here.etag);
      expect(here.etag).toBe(versionTag(decodeVersion(here.version)));
      expect(here.etag).toHaveLength(versionTagLength);
    } finally {
      await other.close();
    }
  });

  it("diffs since an etag, and since one it does not know as from an empty document", async () => {
    await replica.create("d", "yjs");
    const client = yjsClient(7);
    await replica.update("d", client.insert("hello"));
    const at = await replica.head("d");
    const stateThen = await replica.encodeState("d");
    await replica.update("d", client.insert(" world"));
    const diff = await replica.diff("d", at.etag);
    const copy = new Y.Doc();
    Y.applyUpdate(copy, stateThen);
    Y.applyUpdate(copy, diff);
    expect(copy.getText("text").toString()).toBe("hello world");
    expect(diff.length).toBeLessThan((await replica.encodeState("d")).length);
    // A tag of a version this replica never handed out: the whole document, still right.
    const whole = await replica.diff("d", versionTag(new Uint8Array([9, 9, 9])));
    const fresh = new Y.Doc();
    Y.applyUpdate(fresh, whole);
    expect(fresh.getText("text").toString()).toBe("hello world");
    // The current etag: nothing is lacking.
    const none = new Y.Doc();
    Y.applyUpdate(none, stateThen);
    Y.applyUpdate(none, await replica.diff("d", (await replica.head("d")).etag));
    expect(none.getText("text").toString()).toBe("hello");
  });
});

describe("conditional writes (ifVersion)", () => {
  beforeEach(async () => {
    await replica.create("doc", "yjs");
    await replica.patch("doc", setTitle("first"));
  });

  it("refuses a stale etag with precondition_failed naming the current one, and changes nothing", async () => {
    const stale = await replica.head("doc");
    await replica.patch("doc", setTitle("second"));
    const now = await replica.read("doc");
    const client = yjsClient(99);
    const attempts = [
      replica.patch("doc", setTitle("lost"), { ifVersion: stale.etag }),
      replica.update("doc", client.insert("lost"), { ifVersion: stale.etag }),
      replica.change("doc", (d: Y.Doc) => d.getMap("meta").set("title", "lost"), { ifVersion: stale.etag }),
      replica.patch("doc", setTitle("lost"), { ifVersion: stale.version }), // the long form too
      replica.delete("doc", { ifVersion: stale.etag }),
    ];
    for (const attempt of attempts) {
      const error = await rejection(attempt);
      expect(isConcordError(error, "precondition_failed")).toBe(true);
      expect((error as { details: { etag: string } }).details.etag).toBe(now.etag);
    }
    expect(await replica.read("doc")).toEqual(now);
  });

  it("applies a write whose etag or version is current, and hands out the next etag", async () => {
    const at = await replica.head("doc");
    const ack = await replica.patch("doc", setTitle("second"), { ifVersion: at.etag });
    expect(ack.changed).toBe(true);
    expect(ack.etag).not.toBe(at.etag);
    expect(ack.etag).toBe((await replica.head("doc")).etag);
    const client = yjsClient(5);
    Y.applyUpdate(client.doc, await replica.encodeState("doc"));
    const byVersion = await replica.update("doc", client.insert("x"), { ifVersion: [at.etag, ack.version] });
    expect(byVersion.changed).toBe(true);
    await replica.change("doc", (d: Y.Doc) => d.getMap("meta").set("by", "change"), { ifVersion: byVersion.etag });
    expect((await replica.read("doc")).value).toMatchObject({ meta: { title: "second", by: "change" }, text: "x" });
    expect(await replica.delete("doc", { ifVersion: (await replica.head("doc")).etag })).toBe(true);
    expect(isConcordError(await rejection(replica.read("doc")), "deleted")).toBe(true);
  });

  it("lets exactly one of many concurrent writes conditional on one etag apply", async () => {
    const at = await replica.head("doc");
    const writes = Array.from({ length: 8 }, (_, i) => i % 2 === 0
      ? replica.patch("doc", setTitle(`writer ${i}`), { ifVersion: at.etag })
      : replica.update("doc", yjsClient(100 + i).set("title", `writer ${i}`, "meta"), { ifVersion: at.etag }));
    const results = await Promise.allSettled(writes);
    const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === "rejected") expect(isConcordError(r.reason, "precondition_failed")).toBe(true);
    expect((await replica.read("doc")).value).toMatchObject({ meta: { title: `writer ${won[0]}` } });
  });

  it("checks a delete and a write racing it on the same version: exactly one happens", async () => {
    const at = await replica.head("doc");
    const [write, deletion] = await Promise.allSettled([
      replica.patch("doc", setTitle("racing"), { ifVersion: at.etag }),
      replica.delete("doc", { ifVersion: at.etag }),
    ]);
    expect([write.status, deletion.status].filter((s) => s === "fulfilled")).toHaveLength(1);
  });

  it("checks the condition of a delete against a document that is not in the cache", async () => {
    const small = await memoryReplica({ region: "small", cacheMaxBytes: 1 });
    try {
      await small.create("a", "automerge");
      const at = await small.head("a");
      await small.patch("a", setTitle("moved"));
      await small.create("b", "automerge"); // pushes "a" out of a one-byte cache
      expect(isConcordError(await rejection(small.delete("a", { ifVersion: at.etag })), "precondition_failed")).toBe(true);
      expect((await small.read("a")).value).toEqual({ meta: { title: "moved" } });
      expect(await small.delete("a", { ifVersion: (await small.head("a")).etag })).toBe(true);
    } finally {
      await small.close();
    }
  });

  it("refuses a malformed ifVersion as invalid_argument before touching the document", async () => {
    const before = await replica.read("doc");
    for (const ifVersion of ["not a version!", "", []] as const) {
      expect(isConcordError(await rejection(replica.patch("doc", setTitle("x"), { ifVersion })), "invalid_argument")).toBe(true);
    }
    expect(isConcordError(await rejection(replica.delete("doc", { ifVersion: "v1.short" })), "invalid_argument")).toBe(true);
    expect(await replica.read("doc")).toEqual(before);
  });

  it("refuses at once, without waiting, a conditional delta whose predecessors are missing", async () => {
    const at = await replica.head("doc");
    const client = yjsClient(77);
    client.insert("a");
    const second = client.insert("b"); // depends on the first, which never arrives
    const error = await rejection(replica.update("doc", second, { ifVersion: at.etag, timeoutMs: 60_000 }));
    expect(isConcordError(error, "invalid_update")).toBe(true);
    expect(replica.stats().pendingClientDeltas).toBe(0);
    expect((await replica.head("doc")).etag).toBe(at.etag);
  });

  it("works for Automerge documents through JSON ops and binary changes", async () => {
    await replica.create("am", "automerge");
    const at = await replica.head("am");
    await replica.patch("am", setTitle("one"), { ifVersion: at.etag });
    let doc = Automerge.load<{ meta: { title: string } }>(await replica.encodeState("am"));
    doc = Automerge.change(doc, (d) => void (d.meta.title = "two"));
    const change = Automerge.getLastLocalChange(doc)!;
    expect(isConcordError(await rejection(replica.update("am", change, { ifVersion: at.etag })), "precondition_failed")).toBe(true);
    await replica.update("am", change, { ifVersion: (await replica.head("am")).etag });
    expect((await replica.read("am")).value).toEqual({ meta: { title: "two" } });
  });
});
