/**
 * Finding 7: every gossip request a sends b goes through a capturing proxy;
 * a writes, then b stops hearing it (the proxy drops), a writes more, a goes
 * down and b restarts on its data directory; then every captured frame is
 * POSTed to b. None may be accepted: delivered before the restart or never.
 * "poisoned": documents b learned from the replays (b cannot reach a itself).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readHeader } from "../../src/gossip/frame.ts";
import { readTopologyFile } from "../../src/server/topology-file.ts";
import { poll, startProbeRegions, topologyVia } from "./regions.ts";
import { newRow, type Probe } from "./row.ts";

function capturingProxy(target: () => string, captured: Uint8Array[], forward: () => boolean): Promise<Server> {
  const proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.url === "/internal/gossip") captured.push(new Uint8Array(body));
      if (!forward()) return void res.destroy();
      fetch(`${target()}${req.url}`, { method: req.method!, body, headers: { "content-type": "application/octet-stream" } }).then(
        async (answer) => res.writeHead(answer.status, { "content-type": "application/octet-stream" }).end(Buffer.from(await answer.arrayBuffer())),
        () => res.destroy(),
      );
    });
  });
  return new Promise((resolve) => proxy.listen(0, "127.0.0.1", () => resolve(proxy)));
}

export const probe7: Probe = async ({ full }) => {
  const row = newRow(7, "gossip frames replayed across a restart");
  const regions = await startProbeRegions(["a", "b"], { auth: "off" });
  const captured: Uint8Array[] = [];
  let forward = true;
  const proxy = await capturingProxy(() => regions.get("b").url, captured, () => forward);
  try {
    const viaProxy = await topologyVia(regions, "a", "b", `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
    // b never reaches a itself (a dead port), so all it learns of a comes through the proxy.
    const bBlind = await readTopologyFile(await topologyVia(regions, "b", "a", "http://127.0.0.1:9"));
    await regions.stop("a");
    await regions.stop("b");
    await regions.start("b", { topology: bBlind });
    await regions.start("a", { topology: await readTopologyFile(viaProxy) });
    const docs = full ? 200 : 20;
    for (let i = 0; i < docs; i++) await regions.api("a", `/v1/docs/seen-${i}`, { method: "PUT", json: { kind: "yjs", init: { m: { v: i } } } });
    await poll("b holds a's writes", async () => ((await regions.api("b", `/v1/docs/seen-${docs - 1}`)).ok ? true : undefined));
    const delivered = captured.length;
    forward = false;
    for (let i = 0; i < docs; i++) await regions.api("a", `/v1/docs/unseen-${i}`, { method: "PUT", json: { kind: "yjs", init: { m: { v: i } } } });
    // Writes share pushes (batching), so there are fewer frames than writes: a's pushes and retries, at least ten.
    await poll("frames withheld from b", async () => (captured.length >= delivered + Math.min(docs, 10) ? true : undefined));
    await regions.stop("a");
    await regions.stop("b");
    await regions.start("b", { topology: bBlind });
    for (const frame of [...captured]) {
      row.tried++;
      const answer = await fetch(`${regions.get("b").url}/internal/gossip`, { method: "POST", body: Buffer.from(frame), headers: { "content-type": "application/octet-stream" } });
      const bytes = new Uint8Array(await answer.arrayBuffer());
      if (answer.status >= 500) row.crashed++;
      else if (answer.status !== 200 || readHeader(bytes, 1 << 30).header.kind === "refusal") row.refused++;
      else row.accepted++;
    }
    let present = 0;
    for (let i = 0; i < docs; i++) if ((await regions.api("b", `/v1/docs/unseen-${i}`)).ok) present++;
    row.poisoned = present;
    const rejected = (regions.get("b").gossip.stats() as { peers: Record<string, { framesRejected: Record<string, number> }> }).peers.a?.framesRejected;
    row.notes = `${captured.length} captured frames (${delivered} delivered before b restarted, ${captured.length - delivered} never); refusals at b: ${JSON.stringify(rejected)}; documents b learned from replays: ${present} of ${docs}`;
  } finally {
    await new Promise((resolve) => proxy.close(resolve));
    await regions.close();
  }
  return row;
};
