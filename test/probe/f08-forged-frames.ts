/**
 * Finding 8: forged gossip frames POSTed to a region by someone without a
 * key: a bad version, a bad MAC, an unknown sender, the wrong receiver,
 * garbage, each with a replyTo the forger chose. None may get a sealed
 * answer (a 200 with a frame is "accepted": it burnt a counter and answered
 * a stranger). Then one body over the frame limit: it must be counted as
 * "oversized".
 */
import { sealFrame } from "../../src/gossip/frame.ts";
import { generateRegionKeyPair } from "../../src/gossip/region-keys.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { startProbeRegions } from "./regions.ts";
import { newRow, type Probe } from "./row.ts";

export const probe8: Probe = async ({ full }) => {
  const row = newRow(8, "forged gossip frames");
  const regions = await startProbeRegions(["a", "b"], { region: { server: { maxFrameBytes: 1 << 20 } } });
  const random = createSeededRandom(8);
  try {
    const url = `${regions.get("b").url}/internal/gossip`;
    const key = generateRegionKeyPair(random).secretKey; // nobody's pair key
    const frame = (version: number, sender: string, receiver: string) =>
      sealFrame({ version, kind: "request", sender, receiver, counter: BigInt(random.int(1 << 30)), replyTo: BigInt(random.int(1 << 30)) }, random.bytes(40), key, random);
    const kinds: Record<string, () => Uint8Array> = {
      "bad version": () => frame(9, "a", "b"),
      "bad MAC": () => frame(2, "a", "b"),
      "unknown sender": () => frame(2, "mallory", "b"),
      "wrong receiver": () => frame(2, "a", "c"),
      garbage: () => random.bytes(200),
    };
    const per = full ? 500 : 50;
    const byKind: Record<string, string> = {};
    for (const [name, make] of Object.entries(kinds)) {
      const statuses = new Map<number, number>();
      for (let i = 0; i < per; i++) {
        row.tried++;
        const answer = await fetch(url, { method: "POST", body: Buffer.from(make()), headers: { "content-type": "application/octet-stream" } });
        const body = new Uint8Array(await answer.arrayBuffer());
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status >= 500) row.crashed++;
        else if (answer.status === 200 && body.length > 0 && body[0] === 0x43) row.accepted++;
        else row.refused++;
      }
      byKind[name] = [...statuses].map(([s, n]) => `${n}×${s}`).join(" ");
    }
    const stats = () => regions.get("b").gossip.stats() as { framesRejectedUnknown: Record<string, number>; peers: Record<string, { framesRejected: Record<string, number> }> };
    const oversizedBefore = (stats().framesRejectedUnknown.oversized ?? 0) + (stats().peers.a?.framesRejected.oversized ?? 0);
    row.tried++;
    const big = await fetch(url, { method: "POST", body: Buffer.alloc(2 << 20, 1), headers: { "content-type": "application/octet-stream" } });
    if (big.status >= 400 && big.status < 500) row.refused++;
    else row.crashed++;
    const oversized = (stats().framesRejectedUnknown.oversized ?? 0) + (stats().peers.a?.framesRejected.oversized ?? 0) - oversizedBefore;
    if (oversized !== 1) row.poisoned++;
    row.notes = `${per} of each: ${Object.entries(byKind).map(([k, v]) => `${k} ${v}`).join(", ")}; a 2 MiB body over a 1 MiB limit: ${big.status}, oversized counter +${oversized}`;
  } finally {
    await regions.close();
  }
  return row;
};
