/**
 * The worker pool that checks large Automerge deltas off the event loop
 * (src/runtime/automerge-verifier-pool.ts), with real worker threads.
 * Ordering, not time: the event loop must keep turning while a worker
 * checks, and a replica must answer other requests while a large delta's
 * check is in flight.
 */
import * as Automerge from "@automerge/automerge";
import { afterAll, describe, expect, it } from "vitest";
import { verifyDelta, type ChangeVerifier, type DeltaVerdict } from "../../src/doc/automerge-verdicts.ts";
import { createVerifierPool } from "../../src/runtime/automerge-verifier-pool.ts";
import { createAutomergeEngine } from "../../src/doc/automerge-engine.ts";
import { resolveLimits } from "../../src/doc/limits.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { memoryReplica } from "../helpers/replicas.ts";
import type { InternalReplicaOptions } from "../../src/replica/types.ts";

const pool = createVerifierPool({ threads: 2 });
afterAll(() => pool.close());

/** A change inserting `chars` characters into the text at "t" of `base`. */
function insertChange(base: Automerge.Doc<any>, chars: number): Uint8Array {
  return Automerge.getLastLocalChange(Automerge.change(Automerge.clone(base), (d) => Automerge.splice(d, ["t"], 0, 0, "x".repeat(chars))))!;
}

describe("Automerge verifier pool", () => {
  it("gives the verdicts of the in-thread checks, and refusals as ConcordErrors", async () => {
    const base = Automerge.change(Automerge.init<any>(), (d) => void (d.t = ""));
    const delta = insertChange(base, 3_000);
    expect(await pool.verify(delta)).toEqual(verifyDelta(delta));
    const broken = delta.slice(0, delta.length - 5);
    const verdict = await pool.verify(broken);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) {
      expect(verdict.error.name).toBe("ConcordError");
      expect(verdict.error.code).toBe("invalid_update");
    }
  });

  it("lets the event loop turn while a worker checks a large change", async () => {
    const delta = insertChange(Automerge.change(Automerge.init<any>(), (d) => void (d.t = "")), 60_000);
    let turns = 0;
    let done = false;
    const spin = () => {
      if (done) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    const verdict = await pool.verify(delta);
    done = true;
    expect(verdict.ok).toBe(true);
    // Inline, the check is one synchronous call: not a single turn would run before it answers.
    expect(turns).toBeGreaterThan(1);
  });

  it("queues more deltas than threads and answers each", async () => {
    const base = Automerge.change(Automerge.init<any>(), (d) => void (d.t = ""));
    const deltas = [1, 2, 3, 4, 5].map((n) => insertChange(base, 2_000 + n));
    const verdicts = await Promise.all(deltas.map((d) => pool.verify(d)));
    expect(verdicts.map((v) => v.ok)).toEqual([true, true, true, true, true]);
    expect(verdicts).toEqual(deltas.map((d) => verifyDelta(d)));
  });

  it("applies a delta to a copy on a worker, giving what the engine applies here, with the worker's op index", async () => {
    const base = Automerge.change(Automerge.init<any>(), (d) => void (d.t = ""));
    const delta = insertChange(base, 3_000);
    const engine = createAutomergeEngine({ clock: createManualClock(0), random: createSeededRandom(2), changeVerifier: pool });
    const inline = createAutomergeEngine({ clock: createManualClock(0), random: createSeededRandom(2) });
    const doc = engine.load(Automerge.save(base));
    await engine.prepare!(delta, { sizeLimit: "snapshot" }, doc);
    const there = engine.apply(doc, delta, { sizeLimit: "snapshot" }).state;
    const here = inline.apply(inline.load(Automerge.save(base)), delta, { sizeLimit: "snapshot" }).state;
    expect(Automerge.getBackend(there)).not.toBe(Automerge.getBackend(doc)); // the worker's result, loaded
    expect(engine.version(there)).toEqual(inline.version(here));
    expect(engine.toJSON(there)).toEqual(inline.toJSON(here));
    // The adopted index checks the next change as the in-thread one does.
    const next = Automerge.getLastLocalChange(Automerge.change(Automerge.load<any>(inline.snapshot(here)), (d) => Automerge.splice(d, ["t"], 10, 5, "yz")))!;
    expect(engine.toJSON(engine.apply(there, next).state)).toEqual(inline.toJSON(inline.apply(here, next).state));
    // A refusal comes back as the same ConcordError, the document untouched.
    const broken = await pool.apply!({ base: Automerge.save(base), delta: delta.slice(0, delta.length - 5), sizeLimit: "snapshot", limits: resolveLimits(undefined) });
    expect(broken).toMatchObject({ ok: false, error: { code: "invalid_update" } });
  });

  it("rejects (so the engine checks inline) once closed", async () => {
    const closed = createVerifierPool();
    await closed.close();
    await expect(closed.verify(new Uint8Array(1))).rejects.toThrow(/closed/);
  });
});

describe("a replica with a change verifier", () => {
  it("answers reads of other documents while a large delta's check is in flight, then applies it", async () => {
    // The real pool behind a gate the test opens: the delta's check is provably in flight while the read runs.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let checking = 0;
    const gated: ChangeVerifier = {
      verify: async (delta): Promise<DeltaVerdict> => {
        checking++;
        const verdict = await pool.verify(delta);
        await gate;
        return verdict;
      },
    };
    const options: InternalReplicaOptions = { changeVerifier: gated } as InternalReplicaOptions;
    const replica = await memoryReplica(options);
    try {
      await replica.create("big", "automerge", { init: { t: "" } });
      await replica.create("other", "yjs");
      const state = await replica.encodeState("big");
      const delta = insertChange(Automerge.load(state), 50_000);
      const order: string[] = [];
      const update = replica.update("big", delta).then(() => order.push("update"));
      while (checking === 0) await new Promise((resolve) => setImmediate(resolve));
      await replica.read("other");
      order.push("read");
      release();
      await update;
      expect(order).toEqual(["read", "update"]);
      const view = await replica.read("big");
      expect((view.value as { t: string }).t.length).toBe(50_000);
    } finally {
      await replica.close();
    }
  });
});
