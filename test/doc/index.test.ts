import { describe, expect, it } from "vitest";
import { createEngine, docKinds, isDocKind } from "../../src/doc/index.ts";
import { ConcordError } from "../../src/errors.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";

const deps = () => ({ clock: createManualClock(), random: createSeededRandom(1) });

describe("engine selection", () => {
  it("recognises exactly the document kinds", () => {
    for (const kind of docKinds) expect(isDocKind(kind)).toBe(true);
    for (const other of ["Yjs", "", "json", 1, null, undefined, {}]) expect(isDocKind(other)).toBe(false);
  });

  it("creates an engine of the requested kind", () => {
    for (const kind of docKinds) expect(createEngine(kind, deps()).kind).toBe(kind);
  });

  it("rejects an unknown kind with invalid_argument", () => {
    expect(() => createEngine("json" as never, deps())).toThrow(ConcordError);
  });

  it("rejects limits that are not positive integers", () => {
    for (const kind of docKinds) {
      expect(() => createEngine(kind, { ...deps(), limits: { maxDepth: 0 } })).toThrow(ConcordError);
      expect(() => createEngine(kind, { ...deps(), limits: { maxDeltaBytes: 1.5 } })).toThrow(ConcordError);
    }
  });

  it("gives both engines the same contract for an empty delta and an empty snapshot", () => {
    for (const kind of docKinds) {
      const engine = createEngine(kind, deps());
      const doc = engine.load(new Uint8Array());
      expect(engine.apply(doc, new Uint8Array()).changed).toBe(false);
      expect(engine.toJSON(doc)).toEqual({});
      expect(engine.includes(doc, engine.version(engine.create()))).toBe(true);
    }
  });
});
