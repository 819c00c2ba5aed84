import { describe, expect, it } from "vitest";
import { createSentStates } from "../../src/gossip/sent-states.ts";
import { createManualClock } from "../../src/runtime/clock.ts";

const v = (...bytes: number[]) => new Uint8Array(bytes);

describe("sent states", () => {
  it("covers a document once, only for the state the peer told and the version we sent, within its time", () => {
    const clock = createManualClock(0);
    const sent = createSentStates(clock, 1000);
    sent.record("b", "d", { state: "absent" }, v(1, 2));
    expect(sent.covers("c", "d", { state: "absent" }, v(1, 2))).toBe(false); // another peer
    expect(sent.covers("b", "d", { state: "absent" }, v(1, 2))).toBe(true);
    expect(sent.covers("b", "d", { state: "absent" }, v(1, 2))).toBe(false); // used once

    sent.record("b", "d", { state: "present", kind: "yjs", version: v(7) }, v(1, 2));
    expect(sent.covers("b", "d", { state: "present", kind: "yjs", version: v(8) }, v(1, 2))).toBe(false); // it moved
    sent.record("b", "d", { state: "absent" }, v(1, 2));
    expect(sent.covers("b", "d", { state: "absent" }, v(1, 3))).toBe(false); // we moved since
    sent.record("b", "d", { state: "absent" }, v(1, 2));
    clock.advance(1001);
    expect(sent.covers("b", "d", { state: "absent" }, v(1, 2))).toBe(false); // too old: the answer may be lost
  });

  it("keeps at most its limit per peer, dropping the oldest", () => {
    const sent = createSentStates(createManualClock(0), 1000, 2);
    for (const id of ["x", "y", "z"]) sent.record("b", id, { state: "absent" }, v(1));
    expect(sent.size()).toBe(2);
    expect(sent.covers("b", "x", { state: "absent" }, v(1))).toBe(false);
    expect(sent.covers("b", "z", { state: "absent" }, v(1))).toBe(true);
  });
});
