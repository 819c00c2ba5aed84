/**
 * Read-your-writes tokens name the write alone (write-token.ts): their size
 * follows the delta, not the document, and another region serves a read
 * after one only once it holds that write, deletions included.
 */
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createManualClock } from "../../src/runtime/clock.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

describe("write tokens", () => {
  it("stay small as the document's version grows, and another region waits for exactly that write", async () => {
    const a = await memoryReplica({ region: "a" });
    const clock = createManualClock(5_000);
    const b = await memoryReplica({ region: "b", clock });
    await a.create("d", "yjs");
    const client = yjsClient(31);
    client.insert("x".repeat(400));
    const text = client.doc.getText("text");
    for (let i = 398; i > 0; i -= 2) text.delete(i, 1); // 200 delete ranges: a large version
    await a.update("d", Y.encodeStateAsUpdate(client.doc));
    await b.applyRemote("d", "yjs", await a.encodeState("d"));

    const typed = await a.update("d", client.insert("!"));
    expect(typed.version.length).toBeGreaterThan(400);
    expect(typed.token.length).toBeLessThan(24);
    const deleted = await a.update("d", (() => {
      text.delete(0, 1);
      return client.updates.at(-1)!;
    })());
    expect(deleted.token.length).toBeLessThan(24);
    const patched = await a.patch("d", [{ op: "set", path: ["meta", "k"], value: 1 }]);
    expect(patched.token.length).toBeLessThan(40);

    // b lacks the keystroke: a read after its token waits, then answers once b holds it.
    const afterTyped = b.read("d", { after: typed.token, timeoutMs: 1000 });
    await new Promise((resolve) => setImmediate(resolve));
    await b.applyRemote("d", "yjs", client.updates.at(-2)!); // the keystroke
    expect(((await afterTyped).value as { text: string }).text.endsWith("!")).toBe(true);

    // b has every struct of the deletion's document but not the deletion: not caught up.
    const afterDeleted = b.read("d", { after: deleted.token, timeoutMs: 1000 }).catch((e: unknown) => e);
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(1000);
    expect(await afterDeleted).toMatchObject({ code: "not_caught_up" });
    await b.applyRemote("d", "yjs", client.updates.at(-1)!); // the deletion
    expect(await b.read("d", { after: deleted.token, timeoutMs: 1000 })).toMatchObject({ value: { text: text.toString() } });
    // The document's own version still works as a token too.
    await b.applyRemote("d", "yjs", await a.encodeState("d"));
    expect(await b.read("d", { after: patched.version, timeoutMs: 1000 })).toMatchObject({ value: { meta: { k: 1 } } });
    await a.close();
    await b.close();
  });
});
