/**
 * Region-wide and per-socket limits of the stock-protocol sockets answer
 * with their close codes, and /metrics counts open sockets, messages and
 * refusals by reason.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { poll } from "./processes.ts";
import { rawSocket, startStockCluster, tokenRecords, tokens, type StockCluster, type RawSocket } from "./stock-regions.ts";

let cluster: StockCluster;
const open: RawSocket[] = [];

beforeAll(async () => {
  cluster = await startStockCluster(["solo"], { sockets: { upgrades: { maxSockets: 2 }, yjs: { messagesPerSecond: 1, messageBurst: 3 } } });
});

afterAll(async () => {
  for (const s of open) s.ws.close();
  await cluster?.stop();
});

const metrics = async () => (await fetch(`${cluster.regions.get("solo")!.url}/metrics`)).text();
const url = (doc: string) => cluster.wsUrl("solo", `/v1/yjs/${doc}?token=${tokens.writer}`);

describe("revoking a token", () => {
  it("closes its live sockets with 4401 and leaves the others open", async () => {
    const region = cluster.regions.get("solo")!;
    const writer = rawSocket(url("revoke-1"));
    const reader = rawSocket(cluster.wsUrl("solo", `/v1/yjs/revoke-1?token=${tokens.reader}`));
    await Promise.all([writer.opened, reader.opened]);
    await Promise.all([writer.next((m) => m[0] === 0, "writer synced"), reader.next((m) => m[0] === 0, "reader synced")]);
    expect(region.sockets.updateTokens(tokenRecords.filter((t) => t.name !== "reader"))).toBe(1);
    expect((await reader.closed).code).toBe(4401);
    expect(writer.ws.readyState).toBe(writer.ws.OPEN);
    // A new socket with the revoked token is refused too.
    expect((await rawSocket(cluster.wsUrl("solo", `/v1/yjs/revoke-1?token=${tokens.reader}`)).closed).code).toBe(4401);
    region.sockets.updateTokens(tokenRecords);
    writer.ws.close();
    await writer.closed;
  });
});

describe("stock socket limits", () => {
  it("closes frames past the per-socket rate with 4529", async () => {
    const s = rawSocket(url("rate-1"));
    await s.opened;
    for (let i = 0; i < 50; i++) s.ws.send(new Uint8Array([3])); // query-awareness, harmless on its own
    expect((await s.closed).code).toBe(4529);
  });

  it("closes sockets past the region's limit with 1013 and counts them", async () => {
    await poll("earlier sockets closed on the server", async () => (cluster.regions.get("solo")!.sockets.open === 0 ? true : undefined));
    const first = rawSocket(url("limit-1"));
    const second = rawSocket(url("limit-2"));
    open.push(first, second);
    await Promise.all([first.opened, second.opened]);
    await first.next((m) => m[0] === 0, "first synced");
    const third = rawSocket(url("limit-3"));
    expect((await third.closed).code).toBe(1013);
    const text = await metrics();
    expect(text).toMatch(/concord_sockets_open\{[^}]*protocol="yjs"[^}]*\} 2/);
    expect(text).toMatch(/concord_socket_rejected_total\{[^}]*reason="max_sockets"[^}]*\} 1/);
    expect(text).toMatch(/concord_socket_rejected_total\{[^}]*reason="rateLimited"[^}]*\} 1/);
    expect(text).toMatch(/concord_socket_messages_total\{protocol="yjs",direction="out"[^}]*\} [1-9]/);
  });

  it("answers an upgrade on an unknown path with 404", async () => {
    await expect(rawSocket(cluster.wsUrl("solo", "/v1/nothing")).opened).rejects.toThrow(/404/);
  });
});
