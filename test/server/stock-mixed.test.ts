/**
 * One document edited three ways (a stock WebsocketProvider, HTTP PATCH on
 * another region, the embedded API) reads the same in every region and in
 * the provider; and a provider whose region restarts reconnects and loses
 * no acknowledged edit, including one made while it was away.
 */
import type * as Y from "yjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { poll } from "./processes.ts";
import { startStockCluster, stockProviders, tokens, type StockCluster } from "./stock-regions.ts";

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

const bodyIn = async (region: string, doc: string) => ((await cluster.regions.get(region)!.replica.read(doc)).value as { body?: string }).body;

describe("a document edited through a stock client, HTTP and the embedded API", () => {
  it("reads the same in every region and in the provider", async () => {
    const p = provider("a", "mixed-1");
    await poll("synced", async () => (p.synced ? true : undefined));
    p.doc.getText("body").insert(0, "stock;");
    await poll("stock edit in b", async () => ((await bodyIn("b", "mixed-1").catch(() => undefined)) === "stock;" ? true : undefined));
    const patch = await fetch(`${cluster.regions.get("b")!.url}/v1/docs/mixed-1`, {
      method: "PATCH", headers: { authorization: `Bearer ${tokens.writer}`, "content-type": "application/json" },
      body: JSON.stringify({ ops: [{ op: "insertText", path: ["body"], index: 0, text: "http;" }] }),
    });
    expect(patch.status).toBe(200);
    await cluster.regions.get("a")!.replica.change("mixed-1", (doc: Y.Doc) => doc.getText("body").insert(0, "embedded;"));
    const expected = await poll("all three everywhere", async () => {
      const [a, b] = [await bodyIn("a", "mixed-1"), await bodyIn("b", "mixed-1")];
      return a === b && a?.length === "stock;http;embedded;".length ? a : undefined;
    });
    expect(await poll("the provider has it", async () => (p.doc.getText("body").toString() === expected ? true : undefined))).toBe(true);
  });
});

describe("a region restart", () => {
  it("reconnects its provider, which loses no acknowledged edit", async () => {
    const p = provider("a", "restart-1");
    await poll("synced", async () => (p.synced ? true : undefined));
    p.doc.getText("body").insert(0, "before;");
    await poll("acknowledged", async () => ((await bodyIn("a", "restart-1").catch(() => undefined)) === "before;" ? true : undefined));
    const restarted = cluster.restart("a");
    await poll("the provider noticed", async () => (p.wsconnected ? undefined : true));
    p.doc.getText("body").insert(7, "offline;");
    await restarted;
    await poll("reconnected", async () => (p.wsconnected && p.synced ? true : undefined));
    expect(await poll("both edits in a and b", async () => {
      const [a, b] = [await bodyIn("a", "restart-1").catch(() => undefined), await bodyIn("b", "restart-1").catch(() => undefined)];
      return a === "before;offline;" && b === a ? true : undefined;
    })).toBe(true);
  });
});
