import { describe, expect, it } from "vitest";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { drainMicrotasks } from "../../sim/drain.ts";
import { createSimNetwork, type LinkConditions } from "../../sim/network.ts";
import { createScheduler } from "../../sim/scheduler.ts";
import { createTrace } from "../../sim/trace.ts";

function setup(conditions: Partial<LinkConditions> = {}) {
  const scheduler = createScheduler();
  const network = createSimNetwork({
    scheduler, random: createSeededRandom(1), trace: createTrace(), regions: ["a", "b"], latencyMs: () => 30,
    timeoutMs: 1000, bandwidthBytesPerMs: Number.POSITIVE_INFINITY,
    conditions: { loss: 0, duplicate: 0, jitterMs: 0, reorderMs: 0, ...conditions },
  });
  const life = { alive: true };
  const a = network.attach("a", life);
  const b = network.attach("b", { alive: true });
  let served = 0;
  b.serve(async (frame) => {
    served++;
    return frame.map((x) => x + 1);
  });
  const run = async () => {
    for (let fn = scheduler.next(Number.POSITIVE_INFINITY); fn; fn = scheduler.next(Number.POSITIVE_INFINITY)) {
      fn();
      await drainMicrotasks();
    }
  };
  return { scheduler, network, a, life, run, served: () => served };
}

describe("simulated network", () => {
  it("answers a request after the latency of both legs", async () => {
    const { scheduler, a, run } = setup();
    let answeredAt = -1;
    const reply = a.send("b", new Uint8Array([1])).then((r) => ((answeredAt = scheduler.now()), r));
    await run();
    expect([...(await reply)]).toEqual([2]);
    expect(answeredAt).toBe(60);
  });

  it("rejects with unavailable after the timeout when a link is blocked, and only one way when one-way", async () => {
    const { network, a, run, served } = setup();
    network.block("b", "a");
    const reply = a.send("b", new Uint8Array([1]));
    const outcome = reply.then(() => "ok", (e: { code?: string }) => e.code);
    await run();
    expect(await outcome).toBe("unavailable");
    expect(served()).toBe(1); // the request got there; the answer did not come back
  });

  it("delivers a duplicated request twice", async () => {
    const { a, run, served, network } = setup({ duplicate: 1 });
    void a.send("b", new Uint8Array([1]));
    await run();
    expect(served()).toBe(2);
    expect(network.stats.duplicated).toBeGreaterThan(0);
  });

  it("never answers a process that crashed", async () => {
    const { a, life, run } = setup();
    let settled = false;
    void a.send("b", new Uint8Array([1])).finally(() => (settled = true));
    life.alive = false;
    await run();
    expect(settled).toBe(false);
  });
});
