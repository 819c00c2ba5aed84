import { describe, expect, it } from "vitest";
import { ConcordError } from "../../src/errors.ts";
import { createManualClock, type ManualClock } from "../../src/runtime/clock.ts";
import { antiEntropyDuty, joinRegionMembers, type RegionMembers } from "../../src/server/region-members.ts";
import type { MembershipStore } from "../../src/storage/membership.ts";
import { createMemoryMembership } from "../../src/storage/memory-membership.ts";

/** Lets pending promise chains (heartbeats on the memory store) run. */
const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

/** One process's view of the shared store: `cut` makes every call of this process fail, as a dead or partitioned one. */
function processStore(shared: MembershipStore) {
  const state = { cut: false };
  const guard = <A extends unknown[], R>(f: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    if (state.cut) throw new ConcordError("unavailable", "cut off");
    return f(...args);
  };
  const store: MembershipStore = {
    join: guard(shared.join), heartbeat: guard(shared.heartbeat), leave: guard(shared.leave), acquire: guard(shared.acquire),
    view: guard(shared.view), collect: guard(shared.collect), close: async () => undefined,
  };
  return { store, state };
}

async function region(clock: ManualClock, n: number) {
  const shared = createMemoryMembership(clock);
  const processes: Array<{ members: RegionMembers; state: { cut: boolean } }> = [];
  for (let i = 0; i < n; i++) {
    const { store, state } = processStore(shared);
    const members = await joinRegionMembers({ store, clock, name: `p${i}`, url: () => `http://127.0.0.1:${7000 + i}`, atLeast: 1000, duties: [antiEntropyDuty] });
    processes.push({ members, state });
  }
  return { shared, processes };
}

/** Advances in 100 ms steps until `done`, checking after each that at most one process holds the duty; returns ms taken. */
async function advanceUntil(clock: ManualClock, processes: Array<{ members: RegionMembers }>, done: () => boolean, maxMs = 20_000): Promise<number> {
  for (let ms = 0; ms <= maxMs; ms += 100) {
    await flush();
    expect(processes.filter((p) => p.members.holds(antiEntropyDuty)).length).toBeLessThanOrEqual(1);
    if (done()) return ms;
    clock.advance(100);
  }
  throw new Error(`not done within ${maxMs} ms`);
}

describe("region membership and duty leases (memory port, manual clock)", () => {
  it("gives each process its own epoch above the store's, and the duty to exactly one", async () => {
    const clock = createManualClock(0);
    const { processes } = await region(clock, 3);
    const epochs = processes.map((p) => p.members.epoch);
    expect(epochs).toEqual([1000, 1001, 1002]);
    expect(processes.map((p) => p.members.holds(antiEntropyDuty))).toEqual([true, false, false]);
    await advanceUntil(clock, processes, () => processes.every((p) => p.members.status().members.length === 3));
    const status = processes[2]!.members.status();
    expect(status.members.map((m) => [m.epoch, m.alive, m.self])).toEqual([[1000, true, false], [1001, true, false], [1002, true, true]]);
    expect(status.leases).toMatchObject([{ duty: antiEntropyDuty, holder: 1000, token: 1 }]);
    expect(processes.map((p) => [p.members.regionEpoch(), p.members.laneFloor()])).toEqual([[1002, 1000], [1002, 1000], [1002, 1000]]);
    for (const p of processes) await p.members.stop();
  });

  it("moves the duty to a survivor within deadAfterMs + heartbeatMs when its holder dies, with a new fencing token", async () => {
    const clock = createManualClock(0);
    const { processes } = await region(clock, 3);
    await advanceUntil(clock, processes, () => false, 2000).catch(() => undefined);
    processes[0]!.state.cut = true; // SIGKILL: no more heartbeats, no leave
    const tookMs = await advanceUntil(clock, processes, () => processes.slice(1).some((p) => p.members.holds(antiEntropyDuty)));
    console.log(`duty moved ${tookMs} ms after its holder died`);
    expect(tookMs).toBeLessThanOrEqual(4000);
    expect(processes[0]!.members.holds(antiEntropyDuty)).toBe(false);
    await advanceUntil(clock, processes, () => processes[1]!.members.status().members.some((m) => m.epoch === 1000 && !m.alive));
    expect(processes[1]!.members.status().leases[0]).toMatchObject({ token: 2 });
    for (const p of processes.slice(1)) await p.members.stop();
  });

  it("a holder cut off from the database stops counting itself the holder before anyone else takes the duty", async () => {
    const clock = createManualClock(0);
    const { processes } = await region(clock, 2);
    processes[0]!.state.cut = true; // alive, but its heartbeats fail
    // advanceUntil asserts at every step that the two never both hold it.
    await advanceUntil(clock, processes, () => processes[1]!.members.holds(antiEntropyDuty));
    processes[0]!.state.cut = false;
    await advanceUntil(clock, processes, () => processes[0]!.members.status().members.length === 2, 3000);
    expect(processes[0]!.members.holds(antiEntropyDuty)).toBe(false);
    for (const p of processes) await p.members.stop();
  });

  it("hands the duty over on the next heartbeat after a graceful stop, and closes a collected member's lane", async () => {
    const clock = createManualClock(0);
    const { processes } = await region(clock, 2);
    await processes[0]!.members.stop();
    const tookMs = await advanceUntil(clock, processes.slice(1), () => processes[1]!.members.holds(antiEntropyDuty));
    expect(tookMs).toBeLessThanOrEqual(1000);
    expect(processes[1]!.members.laneFloor()).toBe(1001);
    await processes[1]!.members.stop();
  });

  it("collects a member silent past collectAfterMs, which raises the lane floor", async () => {
    const clock = createManualClock(0);
    const shared = createMemoryMembership(clock);
    const a = processStore(shared);
    const b = processStore(shared);
    const first = await joinRegionMembers({ store: a.store, clock, name: "a", url: () => "http://a", atLeast: 5, duties: [], collectAfterMs: 5000 });
    const second = await joinRegionMembers({ store: b.store, clock, name: "b", url: () => "http://b", atLeast: 5, duties: [], collectAfterMs: 5000 });
    await advanceUntil(clock, [], () => second.laneFloor() === 5);
    a.state.cut = true;
    const tookMs = await advanceUntil(clock, [], () => second.laneFloor() === 6);
    expect(tookMs).toBeGreaterThanOrEqual(5000);
    await second.stop();
    a.state.cut = false;
    await first.stop();
  });
});
