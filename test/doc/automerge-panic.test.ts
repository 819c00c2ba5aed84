/**
 * An engine panic (a real wasm trap inside Automerge) leaves no dead module
 * behind: the call that met it, and every call until the module is rebuilt,
 * fails with "unavailable" (never RuntimeError or "Module terminated"), the
 * documents of the dead instance are refused as stale (isLive false), and
 * after the rebuild the same engine loads, edits and applies again.
 */
import * as Automerge from "@automerge/automerge";
import { afterEach, describe, expect, it } from "vitest";
import { createAutomergeEngine } from "../../src/doc/automerge-engine.ts";
import { automergeDead, automergePanics, revived } from "../../src/doc/automerge-health.ts";
import { underGuard } from "../../src/doc/automerge-guard.ts";
import { isConcordError } from "../../src/errors.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { automergeRecovered, restartAutomergeWasm, trapAutomergeWasmForTesting } from "../../src/runtime/automerge-wasm.ts";
import { openReplica } from "../../src/node.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";

const engine = createAutomergeEngine({ clock: createManualClock(1_700_000_000_000), random: createSeededRandom(5) });

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

function rebuild(): void {
  restartAutomergeWasm();
  revived();
}

afterEach(() => {
  if (automergeDead()) rebuild();
});

describe("Automerge engine panics", () => {
  it("turns a trap inside an engine call into unavailable, and works again on a rebuilt module", () => {
    let doc = engine.create();
    doc = engine.change(doc, (d: any) => void (d.title = "before")).state;
    const saved = engine.snapshot(doc);
    const before = automergePanics().count;

    // A real trap: the backend points outside wasm memory, so save() reads out of bounds.
    const backend = Automerge.getBackend(doc) as unknown as { __wbg_ptr: number };
    const ptr = backend.__wbg_ptr;
    backend.__wbg_ptr = 0x7ffffff0;
    const error = thrown(() => engine.snapshot(doc));
    backend.__wbg_ptr = ptr;
    expect(isConcordError(error, "unavailable")).toBe(true);
    expect((error as { details: Record<string, unknown> }).details).toMatchObject({ reason: "engine_panic", damaged: true });
    expect(automergeDead()).toBe(true);
    expect(automergePanics().count).toBe(before + 1);
    expect(automergePanics().last).toMatch(/RuntimeError/);

    // Until the rebuild, nothing reaches the dead module, and a new document cannot be made either.
    expect(isConcordError(thrown(() => engine.create()), "unavailable")).toBe(true);
    expect(isConcordError(thrown(() => engine.load(saved)), "unavailable")).toBe(true);
    expect(engine.isLive!(doc)).toBe(false);
    expect(engine.sizeEstimate(doc)).toBeGreaterThan(0); // cache accounting never throws

    rebuild();
    expect(automergeDead()).toBe(false);
    // The old instance's document stays refused: its memory belongs to the dead module.
    expect(engine.isLive!(doc)).toBe(false);
    const stale = thrown(() => engine.toJSON(doc));
    expect(isConcordError(stale, "unavailable")).toBe(true);
    expect((stale as { details: Record<string, unknown> }).details).toMatchObject({ reason: "engine_restarted", damaged: true });
    expect(automergePanics().count).toBe(before + 1); // a stale document is not another panic

    // What the store held loads on the new module, and takes edits and deltas.
    let again = engine.load(saved);
    expect(engine.isLive!(again)).toBe(true);
    const { state, delta } = engine.change(again, (d: any) => void (d.title = "after"));
    again = state;
    expect(engine.toJSON(again)).toEqual({ title: "after" });
    const other = engine.apply(engine.load(saved), delta).state;
    expect(engine.toJSON(other)).toEqual({ title: "after" });
  });

  it("notices a module that died outside any engine call ('Module terminated') as a panic too", () => {
    const doc = engine.change(engine.create(), (d: any) => void (d.n = 1)).state;
    const before = automergePanics().count;
    trapAutomergeWasmForTesting();
    const error = thrown(() => engine.change(doc, (d: any) => void (d.n = 2)));
    expect(isConcordError(error, "unavailable")).toBe(true);
    expect(automergePanics().count).toBe(before + 1);
    expect(automergePanics().last).toMatch(/Module terminated/);
    rebuild();
    const fresh = engine.change(engine.create(), (d: any) => void (d.n = 3)).state;
    expect(engine.toJSON(fresh)).toEqual({ n: 3 });
  });

  it("asks the module after any other error, so a wrapped or unusual failure that killed it still counts", () => {
    const before = automergePanics().count;
    // An ordinary error with the module alive stays what it was.
    expect(() => underGuard(() => { throw new RangeError("not a trap"); })).toThrow("not a trap");
    expect(automergeDead()).toBe(false);
    trapAutomergeWasmForTesting();
    const error = thrown(() => underGuard(() => { throw new RangeError("Maximum call stack size exceeded"); }));
    expect(isConcordError(error, "unavailable")).toBe(true);
    expect(automergePanics().count).toBe(before + 1);
  });

  it("rebuilds the module for an embedded Node replica, which reloads its documents from the store", async () => {
    const replica = await openReplica({
      store: createMemoryStore(), masterKey: createSeededRandom(77).bytes(32), clock: createManualClock(1_700_000_000_000), random: createSeededRandom(78),
    });
    try {
      await replica.create("notes", "automerge");
      await replica.change("notes", (d: any) => void (d.kept = true));
      trapAutomergeWasmForTesting();
      const error = await replica.change("notes", (d: any) => void (d.lost = true)).then(() => undefined, (e: unknown) => e);
      expect(isConcordError(error, "unavailable")).toBe(true);
      await automergeRecovered();
      expect(automergeDead()).toBe(false);
      await replica.change("notes", (d: any) => void (d.after = 1));
      expect((await replica.read("notes")).value).toEqual({ kept: true, after: 1 });
    } finally {
      await replica.close();
    }
  });
});
