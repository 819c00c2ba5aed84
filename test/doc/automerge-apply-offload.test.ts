/**
 * Deltas applied, and PATCH ops run, on a copy elsewhere
 * (automerge-apply-offload.ts, automerge-ops-offload.ts) must give the very
 * document the in-thread path gives: same heads, JSON and saved state (for
 * ops, the same change bytes), and the same refusals. An applier running runApplyJob in this
 * thread, with structuredClone at the boundary as a worker has, stands in
 * for the pool, and takes every delta, however small, into documents of any
 * size. test/runtime/automerge-verifier-pool.test.ts runs the real workers.
 */
import * as Automerge from "@automerge/automerge";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { createAutomergeEngine } from "../../src/doc/automerge-engine.ts";
import { verifyDelta, type ChangeVerifier } from "../../src/doc/automerge-verdicts.ts";
import type { ApplyJob, ApplyOutcome } from "../../src/doc/automerge-apply-offload.ts";
import { resolveLimits } from "../../src/doc/limits.ts";
import type { JsonOp } from "../../src/doc/json-ops.ts";
import { trappedHere } from "../../src/replica/doc-quarantine.ts";
import { setAutomergeCallHookForTesting } from "../../src/doc/automerge-guard.ts";
import { automergeDead, revived } from "../../src/doc/automerge-health.ts";
import { canonicalStringify } from "../../src/doc/canonical-json.ts";
import { isConcordError } from "../../src/errors.ts";
import { runApplyJob, runOpsJob } from "../../src/runtime/automerge-apply-job.ts";
import { restartAutomergeWasm } from "../../src/runtime/automerge-wasm.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";

const seed = Number(process.env.CONCORD_FUZZ_SEED ?? 20261208);

type Applier = ChangeVerifier & { applies: number };

/** Offloads every delta to runApplyJob in this thread, across a structured clone each way. */
function inThreadApplier(): Applier {
  const applier: Applier = {
    applies: 0,
    minOps: 0,
    maxDocOpsPerDeltaOp: Number.POSITIVE_INFINITY,
    verify: async (delta) => verifyDelta(delta),
    apply: async (job: ApplyJob) => {
      applier.applies++;
      return structuredClone(runApplyJob(structuredClone(job)));
    },
    runOps: async (job) => structuredClone(runOpsJob(structuredClone(job))),
  };
  return applier;
}

const engineWith = (changeVerifier?: ChangeVerifier) =>
  createAutomergeEngine({ clock: createManualClock(0), random: createSeededRandom(5), ...(changeVerifier ? { changeVerifier } : {}) });

type Doc = Automerge.Doc<any>;
type Engine = ReturnType<typeof engineWith>;

/** One edit a writer can make. */
type Edit =
  | { kind: "set"; key: string; value: number | string }
  | { kind: "delete"; key: string }
  | { kind: "splice"; at: number; remove: number; text: string }
  | { kind: "push"; value: number }
  | { kind: "increment"; by: number };

const edit = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), key: fc.constantFrom("a", "b", "c"), value: fc.oneof(fc.integer(), fc.string({ maxLength: 6 })) }),
  fc.record({ kind: fc.constant("delete" as const), key: fc.constantFrom("a", "b", "c") }),
  fc.record({ kind: fc.constant("splice" as const), at: fc.nat(40), remove: fc.nat(3), text: fc.string({ maxLength: 12 }) }),
  fc.record({ kind: fc.constant("push" as const), value: fc.integer() }),
  fc.record({ kind: fc.constant("increment" as const), by: fc.integer({ min: -5, max: 5 }) }),
);

function make(draft: any, e: Edit): void {
  if (e.kind === "set") draft[e.key] = e.value;
  else if (e.kind === "delete") delete draft[e.key];
  else if (e.kind === "splice") Automerge.splice(draft, ["t"], Math.min(e.at, draft.t.length), e.remove, e.text);
  else if (e.kind === "push") draft.l.push(e.value);
  else draft.n.increment(e.by);
}

/** A step: writer 0 or 1 makes some changes, which reach the replica as one delta (their chunks concatenated). */
const step = fc.record({ writer: fc.nat(1), edits: fc.array(fc.array(edit, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 3 }), flip: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }) });

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) (out.set(part, at), (at += part.length));
  return out;
}

/** What apply() did, as a comparable string; the state moves on when it applied. */
function applyOnce(engine: Engine, holder: { doc: Doc }, delta: Uint8Array, sizeLimit: "delta" | "snapshot"): string {
  try {
    const { state, changed } = engine.apply(holder.doc, delta, { sizeLimit });
    holder.doc = state;
    return `ok ${changed} ${canonicalStringify(engine.toJSON(state))} ${Automerge.getHeads(state).sort().join()}`;
  } catch (error) {
    return isConcordError(error) ? `refused ${error.code}` : `not a ConcordError: ${String(error)}`;
  }
}

/** What applyOps() did, as a comparable string (the change's bytes included); the state moves on. */
function patchOnce(engine: Engine, holder: { doc: Doc }, ops: JsonOp[]): string {
  const before = Automerge.save(holder.doc);
  try {
    const { state, delta } = engine.applyOps(holder.doc, ops, { docId: "d" });
    holder.doc = state;
    return `ok ${Buffer.from(delta).toString("hex")} ${canonicalStringify(engine.toJSON(state))} ${Buffer.from(engine.version(state)).toString("hex")}`;
  } catch (error) {
    if (!isConcordError(error)) return `not a ConcordError: ${String(error)}`;
    // A damaged state is dropped and reloaded, as a replica does (the worker's copy never damages this one).
    if (error.details.damaged === true) holder.doc = Automerge.load(before, { actor: Automerge.getActorId(holder.doc) });
    return `refused ${error.code} ${error.message}`;
  }
}

afterEach(() => {
  if (automergeDead()) {
    restartAutomergeWasm();
    revived();
  }
});

describe("Automerge deltas applied off the thread", () => {
  for (const sizeLimit of ["snapshot", "delta"] as const) {
    it(`give the in-thread document for random change sequences, as ${sizeLimit === "snapshot" ? "region" : "client"} deltas (seed ${seed}; CONCORD_FUZZ_SEED replays)`, async () => {
      let adopted = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
          const applier = inThreadApplier();
          const [inline, offloaded] = [engineWith(), engineWith(applier)];
          const genesis = Automerge.change(Automerge.init<any>({ actor: "aa".repeat(16) }), { time: 0 }, (d) => {
            d.t = "";
            d.l = [];
            d.n = new Automerge.Counter(0);
          });
          const snapshot = Automerge.save(genesis);
          const writers: Doc[] = ["b1", "c2"].map((hex) => Automerge.load(snapshot, { actor: hex.repeat(16) }));
          const here = { doc: inline.load(snapshot) };
          const there = { doc: offloaded.load(snapshot) };
          for (const { writer, edits, flip } of steps) {
            const chunks: Uint8Array[] = [];
            for (const group of edits) {
              writers[writer] = Automerge.change(writers[writer]!, { time: 0 }, (d) => group.forEach((e) => make(d, e)));
              const chunk = Automerge.getLastLocalChange(writers[writer]!);
              if (chunk) chunks.push(chunk);
            }
            const delta = concat(chunks);
            if (delta.length === 0) continue;
            // Now and then a bit flipped (checksum left stale or not): both sides must refuse, or accept, alike.
            if (flip !== null && delta.length > 9) delta[9 + (flip % (delta.length - 9))]! ^= 1 << (flip % 8);
            const backend = Automerge.getBackend(there.doc);
            await offloaded.prepare!(delta, { sizeLimit }, there.doc);
            const a = applyOnce(inline, here, delta, sizeLimit);
            const b = applyOnce(offloaded, there, delta, sizeLimit);
            expect(b).toBe(a);
            // A new backend is the loaded result of the worker's copy (applyChanges keeps the backend).
            if (Automerge.getBackend(there.doc) !== backend) adopted++;
            if (a.startsWith("ok")) for (const w of [0, 1]) writers[w] = Automerge.loadIncremental(writers[w]!, delta);
          }
          // The adopted document saves, loads and edits like the in-thread one.
          const [savedHere, savedThere] = [inline.snapshot(here.doc), offloaded.snapshot(there.doc)];
          const reloaded = Automerge.load<any>(savedThere);
          expect(Automerge.getHeads(reloaded).sort()).toEqual(Automerge.getHeads(Automerge.load(savedHere)).sort());
          expect(canonicalStringify(offloaded.toJSON(offloaded.load(savedThere)))).toBe(canonicalStringify(inline.toJSON(here.doc)));
          const edited = offloaded.change(there.doc, (d: any) => void (d.after = 1));
          expect(edited.delta.length).toBeGreaterThan(0);
          expect(applier.applies).toBeGreaterThan(0);
        }),
        { seed, numRuns: 40 },
      );
      // Most accepted deltas went through the worker path (the rest added nothing new).
      expect(adopted).toBeGreaterThan(60);
    });
  }

  it(`make the in-thread change, byte for byte, for random PATCH ops (seed ${seed}; CONCORD_FUZZ_SEED replays)`, async () => {
    const key = fc.constantFrom("a", "b", "m");
    const json = fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.constantFrom("x", "y"), fc.integer()).map((o) => ({ ...o })));  // JSON.parse makes plain objects
    const op: fc.Arbitrary<JsonOp> = fc.oneof(
      fc.record({ op: fc.constant("set" as const), path: fc.array(key, { minLength: 1, maxLength: 2 }), value: json }),
      fc.record({ op: fc.constant("delete" as const), path: fc.array(key, { minLength: 1, maxLength: 2 }) }),
      fc.record({ op: fc.constant("insertText" as const), path: fc.constant<string[]>(["t"]), index: fc.nat(12), text: fc.string({ minLength: 1, maxLength: 10 }) }),
      fc.record({ op: fc.constant("deleteText" as const), path: fc.constant<string[]>(["t"]), index: fc.nat(12), length: fc.nat(4) }),
      fc.record({ op: fc.constant("push" as const), path: fc.constant<string[]>(["l"]), value: json }),
      fc.record({ op: fc.constant("increment" as const), path: fc.constant<string[]>(["c"]), by: fc.integer({ min: -3, max: 3 }) }),
    );
    let adopted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 6 }), async (patches) => {
        const clock = createManualClock(1_700_000_000_000);
        const deps = { clock, random: createSeededRandom(5) };
        const [inline, offloaded] = [createAutomergeEngine(deps), createAutomergeEngine({ ...deps, changeVerifier: inThreadApplier() })];
        const snapshot = Automerge.save(Automerge.init<any>({ actor: "aa".repeat(16) }));
        const here = { doc: inline.load(snapshot) };
        const there = { doc: offloaded.load(snapshot) };
        // Same actor on both sides: the changes must be the same bytes.
        there.doc = Automerge.clone(there.doc, { actor: Automerge.getActorId(here.doc) });
        for (const ops of patches) {
          const backend = Automerge.getBackend(there.doc);
          await offloaded.prepareOps!(there.doc, ops, { docId: "d" });
          const [a, b] = [patchOnce(inline, here, ops), patchOnce(offloaded, there, ops)];
          expect(b).toBe(a);
          if (Automerge.getBackend(there.doc) !== backend) adopted++;
          clock.advance(1500);
        }
        const reloaded = offloaded.load(offloaded.snapshot(there.doc));
        expect(offloaded.toJSON(reloaded)).toEqual(inline.toJSON(here.doc));
      }),
      { seed, numRuns: 40 },
    );
    expect(adopted).toBeGreaterThan(40);
  });

  it("applies the delta here when a write moved the document meanwhile, keeping both", async () => {
    const applier = inThreadApplier();
    const engine = engineWith(applier);
    const start = Automerge.change(Automerge.init<any>({ actor: "aa".repeat(16) }), { time: 0 }, (d) => void (d.t = "abc"));
    const saved = Automerge.save(start);
    const remote = Automerge.change(Automerge.load<any>(saved, { actor: "bb".repeat(16) }), { time: 0 }, (d) => Automerge.splice(d, ["t"], 3, 0, "-remote"));
    const delta = Automerge.getLastLocalChange(remote)!;
    let doc = engine.load(saved);
    await engine.prepare!(delta, { sizeLimit: "snapshot" }, doc);
    expect(applier.applies).toBe(1);
    // A local write lands between the worker's answer and the apply: the result is stale and must not be used.
    doc = engine.change(doc, (d: any) => void (d.local = true)).state;
    const before = Automerge.getBackend(doc);
    doc = engine.apply(doc, delta, { sizeLimit: "snapshot" }).state;
    expect(Automerge.getBackend(doc)).toBe(before);
    expect(engine.toJSON(doc)).toEqual({ t: "abc-remote", local: true });
    expect(Automerge.load(engine.snapshot(doc))).toBeTruthy();
  });

  it("answers a refusal from the copy without touching the document, never as damaged", async () => {
    const engine = engineWith(inThreadApplier());
    const doc = engine.load(Automerge.save(Automerge.change(Automerge.init<any>(), (d) => void (d.t = ""))));
    // A change whose dependency is not in the document.
    const other = Automerge.change(Automerge.init<any>(), (d) => void (d.x = 1));
    const orphan = Automerge.getLastLocalChange(Automerge.change(other, (d) => void (d.x = 2)))!;
    await engine.prepare!(orphan, { sizeLimit: "snapshot" }, doc);
    const heads = Automerge.getHeads(doc);
    let error: unknown;
    try {
      engine.apply(doc, orphan, { sizeLimit: "snapshot" });
    } catch (e) {
      error = e;
    }
    expect(isConcordError(error, "invalid_update")).toBe(true);
    expect((error as { details: Record<string, unknown> }).details).toMatchObject({ reason: "missing_dependencies" });
    expect((error as { details: Record<string, unknown> }).details["damaged"]).toBeUndefined();
    expect(Automerge.getHeads(doc)).toEqual(heads);
  });

  it("answers a wasm trap in the copy as a trapped refusal, which apply() reports without damage", async () => {
    const doc = Automerge.change(Automerge.init<any>(), (d) => void (d.t = ""));
    const delta = Automerge.getLastLocalChange(Automerge.change(Automerge.clone(doc), (d) => Automerge.splice(d, ["t"], 0, 0, "xyz")))!;
    const job: ApplyJob = { base: Automerge.save(doc), delta, sizeLimit: "snapshot", limits: resolveLimits(undefined) };
    // The job's engine traps on its load, as a real trap in a worker's module would (then the worker exits).
    const undo = setAutomergeCallHookForTesting((method) => {
      if (method === "load") throw new WebAssembly.RuntimeError("unreachable");
    });
    let outcome: ApplyOutcome;
    try {
      outcome = runApplyJob(job);
    } finally {
      undo();
    }
    expect(outcome).toMatchObject({ ok: false, error: { code: "unavailable", details: { reason: "engine_panic", trapped: true } } });
    restartAutomergeWasm(); // the worker's module, here this thread's
    revived();

    const engine = engineWith({ minOps: 0, verify: async (d) => verifyDelta(d), apply: async () => structuredClone(outcome) });
    const live = engine.load(Automerge.save(doc));
    await engine.prepare!(delta, { sizeLimit: "snapshot" }, live);
    let error: unknown;
    try {
      engine.apply(live, delta, { sizeLimit: "snapshot" });
    } catch (e) {
      error = e;
    }
    expect(isConcordError(error, "unavailable")).toBe(true);
    const details = (error as { details: Record<string, unknown> }).details;
    expect(trappedHere(error)).toBe(true); // counted towards quarantine, as a trap in this thread is
    expect(details["damaged"]).toBeUndefined();
    expect(automergeDead()).toBe(false);
    expect(engine.toJSON(live)).toEqual({ t: "" });
  });
});
