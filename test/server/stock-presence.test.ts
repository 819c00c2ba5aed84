/**
 * Presence across regions: awareness a stock WebsocketProvider sets on one
 * region reaches a provider of the same document on another region (over the
 * sealed region-to-region presence link), and its removal follows when the
 * first disconnects. Nothing of it is stored.
 */
import type { WebsocketProvider } from "y-websocket";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { poll } from "./processes.ts";
import { rawSocket, startStockCluster, stockProviders, tokens, type StockCluster } from "./stock-regions.ts";

let cluster: StockCluster;
const providers = stockProviders(() => cluster);
const provider = providers.open;

beforeAll(async () => {
  cluster = await startStockCluster(["a", "b"]);
});

afterAll(async () => {
  providers.destroyAll();
  await cluster?.stop();
});

const userOf = (p: WebsocketProvider, clientId: number) => (p.awareness.getStates().get(clientId) as { user?: { name: string } } | undefined)?.user?.name;

describe("presence across regions", () => {
  it("shows awareness set on one region to a provider on another, and removes it on disconnect", async () => {
    const alice = provider("a", "presence-1");
    const bob = provider("b", "presence-1");
    await Promise.all([poll("alice synced", async () => (alice.synced ? true : undefined)), poll("bob synced", async () => (bob.synced ? true : undefined))]);
    alice.awareness.setLocalStateField("user", { name: "alice" });
    bob.awareness.setLocalStateField("user", { name: "bob" });
    expect(await poll("alice on b", async () => userOf(bob, alice.doc.clientID))).toBe("alice");
    expect(await poll("bob on a", async () => userOf(alice, bob.doc.clientID))).toBe("bob");
    alice.disconnect();
    expect(await poll("alice gone from b", async () => (bob.awareness.getStates().has(alice.doc.clientID) ? undefined : true))).toBe(true);
    expect(userOf(bob, bob.doc.clientID)).toBe("bob");
  });

  it("answers query-awareness on another region with the relayed states", async () => {
    const carol = provider("a", "presence-2");
    await poll("carol synced", async () => (carol.synced ? true : undefined));
    carol.awareness.setLocalStateField("user", { name: "carol" });
    // A fresh socket on b for the same document; wait until b's room holds carol (relayed), then ask.
    const viewer = provider("b", "presence-2");
    await poll("viewer synced", async () => (viewer.synced ? true : undefined));
    carol.awareness.setLocalStateField("cursor", 1); // a change after b's room exists is relayed to it
    const socket = rawSocket(cluster.wsUrl("b", `/v1/yjs/presence-2?token=${tokens.writer}`));
    await socket.opened;
    const withCarol = await socket.next((m) => m[0] === 1 && new TextDecoder().decode(m).includes("carol"), "carol's state on b");
    expect(new TextDecoder().decode(withCarol)).toContain("carol");
    socket.ws.close();
  });

  it("never stores awareness", async () => {
    const dave = provider("a", "presence-3");
    await poll("dave synced", async () => (dave.synced ? true : undefined));
    dave.awareness.setLocalStateField("user", { name: "dave-canary-51e" });
    dave.doc.getText("t").insert(0, "x");
    await poll("stored on a", async () => (((await cluster.regions.get("a")!.replica.read("presence-3")).value as { t?: string }).t === "x" ? true : undefined));
    const state = await cluster.regions.get("a")!.replica.encodeState("presence-3");
    expect(Buffer.from(state).includes("dave-canary-51e")).toBe(false);
  });
});
