/**
 * The y-websocket protocol at /v1/yjs/:doc, exercised with the real stock
 * `WebsocketProvider` (y-websocket 3, over `ws`) on two regions started
 * in-process and gossiping, and with raw sockets for what a stock client
 * never sends: concatenated messages, read-only writes, hostile frames.
 */
import * as Y from "yjs";
import type { WebsocketProvider } from "y-websocket";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeYjsFrame } from "../../src/server/yjs-socket-codec.ts";
import { poll } from "./processes.ts";
import { rawSocket, startStockCluster, stockProviders, tokens, type StockCluster } from "./stock-regions.ts";

let cluster: StockCluster;
const providers = stockProviders(() => cluster);
const provider = providers.open;

beforeAll(async () => {
  cluster = await startStockCluster(["a", "b"], { sockets: { yjs: { keepAliveMs: 300 } } });
});

afterAll(async () => {
  providers.destroyAll();
  await cluster?.stop();
});

const synced = (p: WebsocketProvider) => poll("provider synced", async () => (p.synced ? true : undefined));
const textOf = (p: WebsocketProvider) => p.doc.getText("t").toString();
const serverText = async (region: string, doc: string) => {
  const state = await cluster.regions.get(region)!.replica.encodeState(doc);
  const ydoc = new Y.Doc();
  Y.applyUpdate(ydoc, state);
  return ydoc.getText("t").toString();
};

// Message bytes as y-protocols writes them (PROTOCOLS.md §1).
const syncStep1Empty = [0, 0, 1, 0];
const queryAwareness = [3];

describe("y-websocket on two regions", () => {
  it("lets stock providers on two regions see each other's edits", async () => {
    const a = provider("a", "shared-1");
    const b = provider("b", "shared-1");
    await Promise.all([synced(a), synced(b)]);
    a.doc.getText("t").insert(0, "from a;");
    expect(await poll("a's edit on b", async () => (textOf(b).includes("from a;") ? true : undefined))).toBe(true);
    b.doc.getText("t").insert(0, "from b;");
    expect(await poll("b's edit on a", async () => (textOf(a).includes("from b;") ? true : undefined))).toBe(true);
    expect(textOf(a)).toBe(textOf(b));
    // Durable in both regions, through the replica's write path.
    for (const r of ["a", "b"]) expect(await poll(`text in ${r}`, async () => ((await serverText(r, "shared-1")) === textOf(a) ? true : undefined))).toBe(true);
  });

  it("echoes an update to its sender and answers concatenated messages one per frame", async () => {
    const socket = rawSocket(cluster.wsUrl("a", `/v1/yjs/echo-1?token=${tokens.writer}`));
    await socket.opened;
    const client = new Y.Doc();
    let update: Uint8Array | undefined;
    client.on("update", (u: Uint8Array) => (update = u));
    client.getText("t").insert(0, "hi");
    const frame = new Uint8Array([...syncStep1Empty, ...queryAwareness, 0, 2, ...varUint(update!.length), ...update!]);
    socket.ws.send(frame);
    // Step 2 answers our step 1; the update comes back to us, as to every socket of the document.
    await socket.next((m) => m[0] === 0 && m[1] === 1, "sync step 2");
    const echoed = (m: Uint8Array) => {
      const [message] = decodeYjsFrame(m);
      if (message?.type !== "update") return false;
      const check = new Y.Doc();
      Y.applyUpdate(check, message.update);
      return check.getText("t").toString() === "hi";
    };
    expect(echoed(await socket.next(echoed, "the echoed update"))).toBe(true);
    socket.ws.close();
  });

  it("accepts a token as a yauth- subprotocol and echoes the chosen protocol", async () => {
    const socket = rawSocket(cluster.wsUrl("b", "/v1/yjs/proto-1"), [`yauth-${tokens.writer}`]);
    await socket.opened;
    expect(socket.ws.protocol).toBe(`yauth-${tokens.writer}`);
    await socket.next((m) => m[0] === 0 && m[1] === 0, "the server's sync step 1");
    socket.ws.close();
  });

  it("keeps a silent socket alive with no-op messages", async () => {
    const socket = rawSocket(cluster.wsUrl("a", `/v1/yjs/quiet-1?token=${tokens.writer}`));
    await socket.opened;
    // An awareness update with no entries: [1, len 1, count 0].
    await socket.next((m) => m.length === 3 && m[0] === 1 && m[1] === 1 && m[2] === 0, "a keep-alive");
    socket.ws.close();
  });
});

describe("y-websocket refusals", () => {
  it("refuses a missing or unknown token with 4401", async () => {
    for (const url of [cluster.wsUrl("a", "/v1/yjs/x"), cluster.wsUrl("a", "/v1/yjs/x?token=nope")]) {
      expect((await rawSocket(url).closed).code).toBe(4401);
    }
  });

  it("refuses a document outside the token's prefix with 4403", async () => {
    expect((await rawSocket(cluster.wsUrl("a", `/v1/yjs/mine?token=${tokens.other}`)).closed).code).toBe(4403);
  });

  it("drops a read-only token's edits, tells it so, and still syncs it", async () => {
    const w = provider("a", "ro-1");
    await synced(w);
    w.doc.getText("t").insert(0, "written");
    await poll("written stored", async () => ((await serverText("a", "ro-1")) === "written" ? true : undefined));
    const r = provider("a", "ro-1", tokens.reader);
    await synced(r);
    expect(textOf(r)).toBe("written");
    r.doc.getText("t").insert(0, "READER ");
    const socket = rawSocket(cluster.wsUrl("a", `/v1/yjs/ro-1?token=${tokens.reader}`));
    await socket.opened;
    const sneaky = new Y.Doc();
    const updates: Uint8Array[] = [];
    sneaky.on("update", (u: Uint8Array) => updates.push(u));
    sneaky.getText("t").insert(0, "SNEAKY ");
    socket.ws.send(new Uint8Array([0, 2, ...varUint(updates[0]!.length), ...updates[0]!]));
    const denied = await socket.next((m) => m[0] === 2, "permission denied");
    expect(new TextDecoder().decode(denied)).toContain("read-only");
    w.doc.getText("t").insert(7, "!");
    await poll("the writer's next edit", async () => ((await serverText("a", "ro-1")) === "written!" ? true : undefined));
    expect(await serverText("a", "ro-1")).toBe("written!");
    socket.ws.close();
  });
});

describe("hostile y-websocket frames", () => {
  const hostile: Array<{ name: string; frame: () => Uint8Array | string; code: number }> = [
    { name: "a truncated varint", frame: () => new Uint8Array([0x80]), code: 4400 },
    { name: "a length past the end", frame: () => new Uint8Array([0, 2, 0xff, 0xff, 0xff, 0x7f, 1, 2]), code: 4400 },
    { name: "an unknown sync type", frame: () => new Uint8Array([0, 9, 0]), code: 4400 },
    { name: "a text frame", frame: () => "hello", code: 4400 },
    { name: "awareness that is not JSON", frame: () => new Uint8Array([1, 6, 1, 1, 1, 2, 0x7b, 0x7b]), code: 4400 },
    { name: "a pending-forever update", frame: () => pendingForever(), code: 4422 },
    { name: "a 10 MB frame", frame: () => new Uint8Array(10 * 1024 * 1024), code: 4413 },
  ];
  for (const { name, frame, code } of hostile) {
    it(`closes on ${name} with ${code}, leaving other sockets and the document unharmed`, async () => {
      const doc = `hostile-${code}-${name.replace(/\W+/g, "-")}`;
      const good = provider("a", doc);
      await synced(good);
      good.doc.getText("t").insert(0, "safe");
      await poll("safe stored", async () => ((await serverText("a", doc)) === "safe" ? true : undefined));
      const bad = rawSocket(cluster.wsUrl("a", `/v1/yjs/${doc}?token=${tokens.writer}`));
      await bad.opened;
      bad.ws.send(frame());
      expect((await bad.closed).code).toBe(code);
      good.doc.getText("t").insert(4, "!");
      await poll("the good socket still writes", async () => ((await serverText("a", doc)) === "safe!" ? true : undefined));
      expect(good.wsconnected).toBe(true);
    });
  }
});

/** An update whose predecessor never arrives: Yjs would keep it pending forever. */
function pendingForever(): Uint8Array {
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on("update", (u: Uint8Array) => updates.push(u));
  doc.getText("t").insert(0, "a");
  doc.getText("t").insert(1, "b");
  return new Uint8Array([0, 2, ...varUint(updates[1]!.length), ...updates[1]!]);
}

function varUint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push(0x80 | (n & 0x7f));
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
