/**
 * Mutated Automerge changes (flipped bits with the chunk checksum fixed, as a
 * fuzzer finds them): each is refused with a ConcordError, or accepted into
 * a state that still saves and loads. Before the canonical-encoding check,
 * about a third of the accepted ones left a document that no longer loaded
 * (issue 10, finding 2).
 */
import * as Automerge from "@automerge/automerge";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createEngine } from "../../src/doc/index.ts";
import { isConcordError } from "../../src/errors.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";

const seed = Number(process.env.CONCORD_FUZZ_SEED ?? 20261201);
const trials = 400;

/** Recomputes the 4-byte checksum of a change chunk (the first bytes of SHA-256 over type, length and body). */
function withChecksum(chunk: Uint8Array): Uint8Array {
  const out = chunk.slice();
  out.set(createHash("sha256").update(chunk.subarray(8)).digest().subarray(0, 4), 4);
  return out;
}

describe("mutated Automerge changes", () => {
  it(`are refused or leave a state that saves and loads (seed ${seed}; CONCORD_FUZZ_SEED replays)`, () => {
    const random = createSeededRandom(seed);
    const engine = createEngine("automerge", { clock: createManualClock(0), random: createSeededRandom(5) });
    const base = engine.change(engine.create(), (d: any) => { d.t = "hello"; d.l = [1, 2]; d.m = { a: 1 }; }).state;
    const snapshot = engine.snapshot(base);
    const writer = createEngine("automerge", { clock: createManualClock(0), random: createSeededRandom(9) });
    const { delta } = writer.change(writer.load(snapshot), (d: any) => {
      Automerge.splice(d, ["t"], 1, 2, "ZZ");
      d.l.push(3);
      d.m.b = "q";
      d.n = {};
    });
    const broken: string[] = [];
    let accepted = 0;
    for (let n = 0; n < trials; n++) {
      const mutated = delta.slice();
      for (let f = 1 + random.int(3); f > 0; f--) mutated[9 + random.int(mutated.length - 9)]! ^= 1 << random.int(8);
      const input = withChecksum(mutated);
      let state = engine.load(snapshot);
      try {
        state = engine.apply(state, input).state;
      } catch (error) {
        if (!isConcordError(error)) broken.push(`trial ${n}: not a ConcordError: ${String(error)}`);
        continue;
      }
      accepted++;
      try {
        engine.load(engine.snapshot(state));
      } catch (error) {
        broken.push(`trial ${n}: accepted, then the saved state does not load: ${String(error)}`);
      }
    }
    expect(broken, `seed ${seed}`).toEqual([]);
    expect(accepted).toBeGreaterThan(0);
  });
});

describe("the canonical-encoding check", () => {
  it("accepts changes with float values, whose JSON re-encoding lands an ulp away", async () => {
    const { checkCanonical } = await import("../../src/doc/automerge-canonical.ts");
    const random = createSeededRandom(seed);
    let doc = Automerge.init<Record<string, number>>();
    for (let i = 0; i < 200; i++) {
      // Both full 53-bit mantissas and the short ones a 32-bit generator makes.
      const value = i % 2 === 0 ? random.float() : random.int(2 ** 32) / 2 ** 32;
      doc = Automerge.change(doc, (d) => void (d[`k${i}`] = value));
      const bytes = Automerge.getLastLocalChange(doc)!;
      expect(checkCanonical(bytes, Automerge.decodeChange(bytes)), `value ${value}`).toBe("canonical");
    }
  });
});
