import { describe, expect, it } from "vitest";
import { createScheduler, simEpochMs } from "../../sim/scheduler.ts";

function runAll(s: ReturnType<typeof createScheduler>, until = Number.POSITIVE_INFINITY): void {
  for (let fn = s.next(until); fn; fn = s.next(until)) fn();
}

describe("scheduler", () => {
  it("runs events in time order and breaks ties by the order they were scheduled", () => {
    const s = createScheduler();
    const seen: string[] = [];
    s.after(10, () => seen.push("b"));
    s.after(5, () => seen.push("a"));
    s.after(10, () => seen.push("c"));
    runAll(s);
    expect(seen).toEqual(["a", "b", "c"]);
    expect(s.now()).toBe(10);
  });

  it("holds a paused region's events and replays them in order when it resumes", () => {
    const s = createScheduler();
    const seen: string[] = [];
    s.after(5, () => seen.push("r1"), "r");
    s.after(6, () => seen.push("other"));
    s.after(7, () => seen.push("r2"), "r");
    s.pause("r");
    runAll(s, 20);
    expect(seen).toEqual(["other"]);
    s.advanceTo(20);
    s.resume("r");
    runAll(s);
    expect(seen).toEqual(["other", "r1", "r2"]);
    expect(s.now()).toBe(20);
  });

  it("runs a skewed region's timers faster and keeps its clock monotonic", () => {
    const s = createScheduler();
    const clock = s.clock("fast");
    s.setRate("fast", 2);
    let firedAt = -1;
    clock.timer(100, () => (firedAt = s.now()));
    runAll(s);
    expect(firedAt).toBe(50);
    expect(clock.now()).toBe(simEpochMs + 100);
    s.setRate("fast", 1);
    s.advanceTo(60);
    expect(clock.now()).toBe(simEpochMs + 110);
  });

  it("never fires the timers of a process that died", () => {
    const s = createScheduler();
    const life = { alive: true };
    let fired = false;
    s.clock("r", life).timer(10, () => (fired = true));
    life.alive = false;
    runAll(s);
    expect(fired).toBe(false);
  });

  it("cancels events", () => {
    const s = createScheduler();
    let fired = false;
    const cancel = s.after(1, () => (fired = true));
    cancel();
    runAll(s);
    expect(fired).toBe(false);
  });
});
