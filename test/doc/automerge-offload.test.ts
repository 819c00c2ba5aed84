/**
 * Checks moved off the main thread (automerge-verdicts.ts, automerge-offload.ts)
 * must decide exactly as the inline checks: the same refusals, the same
 * accepted states. A verifier running verifyDelta in this thread stands in
 * for the worker pool (test/runtime/automerge-verifier-pool.test.ts runs the
 * real one), so every mutated input goes through prepare() and the verdict
 * path of apply().
 */
import * as Automerge from "@automerge/automerge";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createAutomergeEngine } from "../../src/doc/automerge-engine.ts";
import { verifyDelta, type ChangeVerifier } from "../../src/doc/automerge-verdicts.ts";
import { canonicalStringify } from "../../src/doc/canonical-json.ts";
import { isConcordError } from "../../src/errors.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";

const seed = Number(process.env.CONCORD_FUZZ_SEED ?? 20261207);

function withChecksum(chunk: Uint8Array): Uint8Array {
  const out = chunk.slice();
  out.set(createHash("sha256").update(chunk.subarray(8)).digest().subarray(0, 4), 4);
  return out;
}

/** An in-thread verifier that counts its calls and offloads every delta, however small. */
function countingVerifier(): ChangeVerifier & { calls: number } {
  const verifier = { calls: 0, minOps: 0, verify: async (delta: Uint8Array) => (verifier.calls++, verifyDelta(delta)) };
  return verifier;
}

const engineWith = (changeVerifier?: ChangeVerifier) =>
  createAutomergeEngine({ clock: createManualClock(0), random: createSeededRandom(5), ...(changeVerifier ? { changeVerifier } : {}) });

type Outcome = string;
async function outcome(engine: ReturnType<typeof engineWith>, snapshot: Uint8Array, input: Uint8Array): Promise<Outcome> {
  await engine.prepare!(input);
  try {
    const { state } = engine.apply(engine.load(snapshot), input);
    return `ok ${canonicalStringify(engine.toJSON(state))} ${Buffer.from(engine.version(state)).toString("hex")}`;
  } catch (error) {
    if (!isConcordError(error)) return `not a ConcordError: ${String(error)}`;
    // The reason may differ: a change both non-canonical and lacking its deps is "malformed" from the
    // verifier (it checks encoding first) and "missing_dependencies" inline. Both refuse it for good.
    return `refused ${error.code}`;
  }
}

describe("Automerge checks off the main thread", () => {
  it(`decide every mutated change as the inline checks do (seed ${seed}; CONCORD_FUZZ_SEED replays)`, async () => {
    const random = createSeededRandom(seed);
    const inline = engineWith();
    const verifier = countingVerifier();
    const offloaded = engineWith(verifier);
    const base = inline.change(inline.create(), (d: any) => { d.t = "hello"; d.l = [1, 2]; d.m = { a: 1 }; d.c = new Automerge.Counter(1); }).state;
    const snapshot = inline.snapshot(base);
    const writer = createAutomergeEngine({ clock: createManualClock(0), random: createSeededRandom(9) });
    const { delta } = writer.change(writer.load(snapshot), (d: any) => {
      Automerge.splice(d, ["t"], 1, 2, "ZZ");
      d.l.push(3);
      d.m.b = "q";
      d.n = {};
      d.c.increment(2);
      d.f = 1.5;
    });
    const differ: string[] = [];
    let accepted = 0;
    for (let n = 0; n < 300; n++) {
      const mutated = delta.slice();
      for (let f = 1 + random.int(3); f > 0; f--) mutated[9 + random.int(mutated.length - 9)]! ^= 1 << random.int(8);
      const input = withChecksum(mutated);
      const [a, b] = [await outcome(inline, snapshot, input), await outcome(offloaded, snapshot, input.slice())];
      if (a !== b) differ.push(`trial ${n}: inline ${a} / offloaded ${b}`);
      if (a.startsWith("ok")) accepted++;
    }
    expect(differ, `seed ${seed}`).toEqual([]);
    // Those the raw-bytes precheck refuses never reach the verifier (apply() refuses them as cheaply).
    expect(verifier.calls).toBeGreaterThan(150);
    expect(accepted).toBeGreaterThan(0);
  });

  it("applies a large text insert read from its verdict to the same state as inline", async () => {
    const verifier = countingVerifier();
    const [inline, offloaded] = [engineWith(), engineWith(verifier)];
    const base = inline.change(inline.create(), (d: any) => void (d.t = "")).state;
    const snapshot = inline.snapshot(base);
    const writer = createAutomergeEngine({ clock: createManualClock(0), random: createSeededRandom(9) });
    const { delta } = writer.change(writer.load(snapshot), (d: any) => Automerge.splice(d, ["t"], 0, 0, "x".repeat(5_000)));
    expect(await outcome(offloaded, snapshot, delta)).toBe(await outcome(inline, snapshot, delta));
    expect(verifier.calls).toBe(1);
  });

  it("throws a refusal the verifier reached without checking again", async () => {
    const refusal = verifyDelta(new Uint8Array([0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 1, 0]));
    expect(refusal.ok).toBe(false);
    let verified = 0;
    const engine = engineWith({ minOps: 0, verify: async () => (verified++, refusal) });
    const base = engine.change(engine.create(), (d: any) => void (d.t = "")).state;
    const writer = createAutomergeEngine({ clock: createManualClock(0), random: createSeededRandom(9) });
    // A valid delta: only the prepared verdict can refuse it.
    const { delta } = writer.change(writer.load(engine.snapshot(base)), (d: any) => void (d.k = 1));
    await engine.prepare!(delta);
    expect(verified).toBe(1);
    const error = (() => { try { engine.apply(base, delta); } catch (e) { return e; } })();
    expect(isConcordError(error, "invalid_update")).toBe(true);
    // Another Uint8Array with the same bytes borrows nothing: it is checked here and applies.
    expect(engine.apply(base, delta.slice()).changed).toBe(true);
  });
});
