/**
 * Issue 10 finding 3 (large Automerge inputs) and the issue 11 Automerge row.
 * For each input: Concord's path vs raw Automerge doing the same work, and
 * the longest event-loop block seen meanwhile (perf_hooks
 * monitorEventLoopDelay: the longest synchronous stretch; with the worker
 * pool, work moves off the event loop and the block shrinks while the total
 * may not). Asserts nothing (speed is never a test). The machine running this is
 * usually loaded: compare ratios, not absolute times.
 * Run: npm run bench -- automerge  (BENCH_AM_CHARS, default 300000, sets the insert size; BENCH_AM_EDITS the keystrokes)
 */
import * as Automerge from "@automerge/automerge";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createAutomergeEngine } from "../../src/doc/automerge-engine.ts";
import { isConcordError } from "../../src/errors.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createVerifierPool } from "../../src/runtime/automerge-verifier-pool.ts";
import type { InternalReplicaOptions } from "../../src/replica/types.ts";
import { memoryReplica } from "../helpers/replicas.ts";

type Doc = Automerge.Doc<any>;

/** Runs `work`, returning its time and the longest event-loop block seen while it ran, in ms. */
async function timed(work: () => unknown | Promise<unknown>): Promise<{ ms: number; blockMs: number; result: unknown }> {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  // The histogram's timer must have ticked once before the work, or the block has no baseline to be measured from.
  await new Promise((resolve) => setTimeout(resolve, 30));
  const start = performance.now();
  let result: unknown;
  try {
    result = await work();
  } catch (error) {
    result = error;
  }
  const ms = performance.now() - start;
  await new Promise((resolve) => setTimeout(resolve, 30)); // lets the histogram's timer fire and record the block
  delay.disable();
  return { ms, blockMs: delay.max / 1e6, result };
}

const f = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const outcome = (result: unknown): string => (isConcordError(result) ? `refused ${result.code} (${String(result.details["reason"] ?? "")})` : "ok");

export async function run(): Promise<string> {
  const chars = Number(process.env["BENCH_AM_CHARS"] ?? 300_000);
  const lines: string[] = [`machine: ${process.env["BENCH_NOTE"] ?? "shared 2-core box, loaded by other sessions"}`];
  const engine = createAutomergeEngine({ clock: createManualClock(1_700_000_000_000), random: createSeededRandom(3) });
  const base: Doc = Automerge.change(Automerge.init<any>(), (d) => void (d.t = ""));
  const saved = Automerge.save(base);

  // 1. A large text insert as a local edit: raw Automerge.change vs engine.change (which checks its own change).
  const text = "x".repeat(chars);
  const rawLocal = await timed(() => Automerge.change(Automerge.load<any>(saved), (d) => Automerge.splice(d, ["t"], 0, 0, text)));
  const engineLocal = await timed(() => engine.change(engine.load(saved), (d: any) => Automerge.splice(d, ["t"], 0, 0, text)));
  lines.push(`${chars}-character insert, local edit: raw ${f(rawLocal.ms)} ms, engine.change ${f(engineLocal.ms)} ms (${(engineLocal.ms / rawLocal.ms).toFixed(2)}×), longest block ${f(engineLocal.blockMs)} ms, ${outcome(engineLocal.result)}`);

  // 2. The same insert as a binary delta from elsewhere: raw applyChanges vs engine.apply (a client delta, op budget on).
  const delta = Automerge.getLastLocalChange(Automerge.change(Automerge.clone(base), (d) => Automerge.splice(d, ["t"], 0, 0, text)))!;
  const rawApply = await timed(() => Automerge.applyChanges(Automerge.load<any>(saved), [delta]));
  const decode = await timed(() => Automerge.decodeChange(delta));
  const engineApply = await timed(() => engine.apply(engine.load(saved), delta));
  const trusted = await timed(() => engine.apply(engine.load(saved), delta, { sizeLimit: "snapshot" }));
  lines.push(
    `${(delta.length / 1024).toFixed(0)} KB change (${chars} ops) as a delta: raw applyChanges ${f(rawApply.ms)} ms (decodeChange alone ${f(decode.ms)} ms); ` +
      `engine.apply as a client delta ${f(engineApply.ms)} ms, ${outcome(engineApply.result)}; from a region (no op budget) ${f(trusted.ms)} ms ` +
      `(${(trusted.ms / rawApply.ms).toFixed(2)}× raw), longest block ${f(trusted.blockMs)} ms`,
  );
  // The same, with the worker pool (what Node regions do). Before: only the byte checks there (prepare without
  // the document), then apply() here. After: the whole apply on a copy there (prepare with the document), then
  // apply() here only loads the result (automerge-apply-offload.ts). Goal: no block over ~100 ms.
  const pool = createVerifierPool();
  try {
    const pooled = createAutomergeEngine({ clock: createManualClock(1_700_000_000_000), random: createSeededRandom(3), changeVerifier: pool });
    await pool.verify(delta); // the worker's start-up is not this delta's cost
    for (const [label, withDoc] of [["checks only on the worker (before)", false], ["applied on the worker (after)", true]] as const) {
      const doc = pooled.load(saved);
      const copy = delta.slice();
      const prepare = await timed(() => pooled.prepare!(copy, { sizeLimit: "snapshot" }, withDoc ? doc : undefined));
      const applied = await timed(() => pooled.apply(doc, copy, { sizeLimit: "snapshot" }));
      lines.push(
        `  worker pool, ${label}: prepare ${f(prepare.ms)} ms (longest block ${f(prepare.blockMs)} ms), then apply ${f(applied.ms)} ms ` +
          `(${(applied.ms / rawApply.ms).toFixed(2)}× raw applyChanges), longest block ${f(Math.max(prepare.blockMs, applied.blockMs))} ms ` +
          `(goal ~100 ms), ${outcome(applied.result)}`,
      );
    }
    // Through a replica, as a region's delta arrives (Replica.applyRemote: prepare with the cached document, then the write).
    const region = await memoryReplica({ changeVerifier: pool } as Partial<InternalReplicaOptions>);
    try {
      await region.create("big", "automerge", { init: { t: "" } });
      const incoming = Automerge.getLastLocalChange(Automerge.change(Automerge.load<any>(await region.encodeState("big")), (d) => Automerge.splice(d, ["t"], 0, 0, text)))!;
      const remote = await timed(() => region.applyRemote("big", "automerge", incoming));
      lines.push(`  Replica.applyRemote of it (worker pool): ${f(remote.ms)} ms, longest block ${f(remote.blockMs)} ms (goal ~100 ms), ${outcome(remote.result)}`);
    } finally {
      await region.close();
    }
  } finally {
    await pool.close();
  }

  // 3. Binary deltas nested deep: refused from the raw bytes; decodeChange alone is what any refusal after decoding costs.
  for (const depth of [50_000, 200_000]) {
    const actor = "ab".repeat(16);
    const ops: unknown[] = [];
    for (let i = 1, parent = "_root"; i <= depth; parent = `${i}@${actor}`, i++) ops.push({ action: "makeMap", obj: parent, key: "c", pred: [] });
    const deep = Automerge.encodeChange({ actor, seq: 1, startOp: 1, time: 0, message: null, deps: [], ops } as never);
    const deepDecode = await timed(() => Automerge.decodeChange(deep));
    const refuse = await timed(() => engine.apply(engine.create(), deep));
    lines.push(`delta nested ${depth} deep (${(deep.length / 1024).toFixed(0)} KB): refused in ${f(refuse.ms)} ms, ${outcome(refuse.result)}; decodeChange alone ${f(deepDecode.ms)} ms (${(deepDecode.ms / refuse.ms).toFixed(0)}× the refusal)`);
  }

  // 4. Through a replica: a PATCH of the large insert (before: made here; after: on a worker's copy,
  // automerge-ops-offload.ts), and 1,000 ops × 8 KB.
  // Just under the default op budget (100,000 ops, characters included).
  const patchText = text.slice(0, Math.min(chars, 99_000));
  const patchPool = createVerifierPool();
  try {
    for (const [label, options] of [["made here (before)", {}], ["on the worker pool (after)", { changeVerifier: patchPool }]] as const) {
      const patching = await memoryReplica(options as Partial<InternalReplicaOptions>);
      try {
        await patching.create("big", "automerge");
        await patching.patch("big", [{ op: "set", path: ["warm"], value: 1 }]); // the document cached, the pool started
        const patch = await timed(() => patching.patch("big", [{ op: "insertText", path: ["t"], index: 0, text: patchText }]));
        lines.push(`PATCH insertText of ${patchText.length} characters, ${label}: ${f(patch.ms)} ms, longest block ${f(patch.blockMs)} ms (goal ~100 ms), ${outcome(patch.result)}`);
      } finally {
        await patching.close();
      }
    }
  } finally {
    await patchPool.close();
  }
  const replica = await memoryReplica();
  try {
    await replica.create("big", "automerge");
    const wide = Array.from({ length: 1000 }, (_, i) => ({ op: "insertText" as const, path: ["t"], index: 0, text: String.fromCharCode(97 + (i % 26)).repeat(8192) }));
    const widePatch = await timed(() => replica.patch("big", wide));
    lines.push(`PATCH of 1,000 insertText ops × 8 KB: ${f(widePatch.ms)} ms, longest block ${f(widePatch.blockMs)} ms, ${outcome(widePatch.result)}`);
  } finally {
    await replica.close();
  }

  // 5. Issue 11's Automerge row: the first one-keystroke changes, bare applyChanges vs engine.apply
  // (BENCH_AM_EDITS, default 2,000: Automerge.applyChanges on a live doc grows with the text, 10,000 take minutes here).
  const edits = Number(process.env["BENCH_AM_EDITS"] ?? 2_000);
  let writer: Doc = Automerge.change(Automerge.init<any>({ actor: "cd".repeat(16) }), { time: 0 }, (d) => void (d.t = ""));
  const changes: Uint8Array[] = [Automerge.getLastLocalChange(writer)!];
  for (let i = 0; i < edits; i++) {
    writer = Automerge.change(writer, { time: 0 }, (d) => Automerge.splice(d, ["t"], i, 0, String.fromCharCode(97 + (i % 26))));
    changes.push(Automerge.getLastLocalChange(writer)!);
  }
  const bare = await timed(() => {
    let doc: Doc = Automerge.init();
    for (const change of changes) doc = Automerge.applyChanges(doc, [change])[0];
  });
  const checked = await timed(() => {
    let doc = engine.create();
    for (const change of changes) doc = engine.apply(doc, change).state;
  });
  lines.push(
    `first ${edits} one-keystroke changes: bare applyChanges ${f(bare.ms)} ms (${((bare.ms / edits) * 1000).toFixed(0)} µs/change, Automerge's own cost), ` +
      `engine.apply ${f(checked.ms)} ms (${((checked.ms / edits) * 1000).toFixed(0)} µs/change): ${(checked.ms / bare.ms).toFixed(2)}× (goal ≤ 1.5×)`,
  );
  return lines.join("\n");
}
