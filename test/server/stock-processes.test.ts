/**
 * Stock providers on real `concord serve` processes: edits cross regions,
 * and after region p1's process is SIGKILLed and started again its provider
 * reconnects and loses no acknowledged edit, nor the one it made while the
 * region was down.
 */
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { poll, startProcessCluster, stop, type ProcessCluster } from "./processes.ts";

let cluster: ProcessCluster;
const providers: WebsocketProvider[] = [];

beforeAll(async () => {
  cluster = await startProcessCluster(["p1", "p2"], "concord-stock-proc-");
});

afterAll(async () => {
  for (const p of providers) p.destroy();
  await cluster?.stop();
});

function provider(region: string, doc: string): WebsocketProvider {
  const url = `${cluster.urls[region]!.replace(/^http/, "ws")}/v1/yjs`;
  const p = new WebsocketProvider(url, doc, new Y.Doc(), { WebSocketPolyfill: WebSocket as never, disableBc: true });
  providers.push(p);
  return p;
}

const textIn = async (region: string, doc: string) => ((await cluster.value(region, doc).catch(() => undefined)) as { t?: string } | undefined)?.t;

describe("stock providers on concord serve processes", () => {
  it("survive a SIGKILL of their region without losing an acknowledged edit", async () => {
    const a = provider("p1", "kill-1");
    const b = provider("p2", "kill-1");
    await poll("both synced", async () => (a.synced && b.synced ? true : undefined));
    a.doc.getText("t").insert(0, "one;");
    await poll("one; in both regions and on b", async () =>
      (await textIn("p1", "kill-1")) === "one;" && (await textIn("p2", "kill-1")) === "one;" && b.doc.getText("t").toString() === "one;" ? true : undefined);
    await stop(cluster.procs.get("p1")!, "SIGKILL");
    await poll("a noticed", async () => (a.wsconnected ? undefined : true));
    a.doc.getText("t").insert(4, "two;");
    await cluster.serve("p1");
    await poll("a reconnected", async () => (a.wsconnected && a.synced ? true : undefined));
    expect(await poll("everything everywhere", async () => {
      const values = [await textIn("p1", "kill-1"), await textIn("p2", "kill-1"), b.doc.getText("t").toString(), a.doc.getText("t").toString()];
      return values.every((v) => v === "one;two;") ? values : undefined;
    })).toEqual(["one;two;", "one;two;", "one;two;", "one;two;"]);
  });
});
