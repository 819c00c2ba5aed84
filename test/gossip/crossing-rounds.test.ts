/**
 * Two regions running anti-entropy rounds with each other at once (a fresh
 * region coming up, or two timers firing together) send each differing
 * document's content once, not once per round (see src/gossip/sent-states.ts).
 */
import { describe, expect, it } from "vitest";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createCluster, flush } from "../helpers/cluster.ts";
import { yjsClient } from "../helpers/replicas.ts";

const docs = 24;

/** Random lower-case text: compresses about as badly as the catch-up bench's workload. */
function randomText(seed: number, length: number): string {
  const random = createSeededRandom(seed);
  let text = "";
  for (let i = 0; i < length; i++) text += String.fromCharCode(97 + random.int(26));
  return text;
}

/** a's round starts first when `lead` > 0, b's when < 0, `|lead|` event-loop turns before the other's. */
async function crossingRounds(lead: number): Promise<{ bytesToB: number; stateBytes: number }> {
  const cluster = await createCluster({ names: ["a", "b"], gossip: { antiEntropyIntervalMs: 1e9, compressFrames: false } }); // bytes = content
  const a = cluster.get("a");
  const b = cluster.get("b");
  cluster.network.isolate("b"); // b holds none of it: nothing reaches it by eager push
  let stateBytes = 0;
  for (let d = 0; d < docs; d++) {
    await a.replica.create(`doc-${d}`, "yjs");
    await a.replica.update(`doc-${d}`, yjsClient(10 + d).insert(randomText(d, 4000)));
    stateBytes += (await a.replica.encodeState(`doc-${d}`)).length;
  }
  cluster.network.heal();
  let bytesToB = 0;
  cluster.network.intercept((from, to, frame) => {
    if (from === "a" && to === "b") bytesToB += frame.length;
    return frame;
  });
  const first = lead >= 0 ? a.gossip.antiEntropy("b") : b.gossip.antiEntropy("a");
  for (let i = 0; i < Math.abs(lead); i++) await flush();
  const other = lead >= 0 ? b.gossip.antiEntropy("a") : a.gossip.antiEntropy("b");
  await Promise.all([first, other]);
  cluster.network.intercept(undefined);
  for (let d = 0; d < docs; d++) {
    expect((await b.replica.read(`doc-${d}`)).version).toBe((await a.replica.read(`doc-${d}`)).version);
  }
  await cluster.stop();
  return { bytesToB, stateBytes };
}

describe("crossing anti-entropy rounds", () => {
  it("send a fresh region each document's state once, whichever of the two rounds runs ahead", async () => {
    for (const lead of [0, 1, 3, 10, 30, -1, -3, -10, -30]) {
      const { bytesToB, stateBytes } = await crossingRounds(lead);
      console.log(`crossing rounds, lead ${lead}: ${bytesToB} bytes a→b for ${stateBytes} bytes of states (${(bytesToB / stateBytes).toFixed(2)}×)`);
      expect(bytesToB).toBeLessThan(1.5 * stateBytes);
    }
  });
});
