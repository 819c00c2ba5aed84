/**
 * Cost of the Yjs engine's validation on the hot path: 10,000 one-keystroke
 * text deltas applied to one live document, raw Y.applyUpdate vs
 * engine.apply. Prints medians and the ratio; asserts nothing (speed is
 * never a test). Run: npm run bench -- validation
 */
import * as Y from "yjs";
import { createYjsEngine } from "../../src/doc/yjs-engine.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";

export async function run(): Promise<string> {
  const keystrokes = 10_000;
  const rounds = 15;

  const writer = new Y.Doc();
  const text = writer.getText("t");
  const deltas: Uint8Array[] = [];
  writer.on("update", (update: Uint8Array) => deltas.push(update));
  const random = createSeededRandom(1);
  for (let i = 0; i < keystrokes; i++) {
    // Mostly typing at a cursor, sometimes jumping elsewhere.
    const at = i % 50 === 0 ? random.int(text.length + 1) : Math.min(text.length, Math.floor(i / 2));
    text.insert(at, String.fromCharCode(97 + (i % 26)));
  }

  const engine = createYjsEngine({ clock: createManualClock(), random: createSeededRandom(2) });
  const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const raw: number[] = [];
  const checked: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // Alternate the order so warm-up and GC do not favour one side.
    const runs: Array<[number[], () => void]> = [
      [raw, () => { const doc = new Y.Doc(); for (const d of deltas) Y.applyUpdate(doc, d); }],
      [checked, () => { const doc = engine.create(); for (const d of deltas) engine.apply(doc, d); }],
    ];
    if (round % 2 === 1) runs.reverse();
    for (const [into, run] of runs) {
      const start = performance.now();
      run();
      into.push(performance.now() - start);
    }
  }
  const rawMs = median(raw);
  const engineMs = median(checked);
  return [
    `${keystrokes} keystroke deltas, median of ${rounds} rounds`,
    `raw Y.applyUpdate: ${rawMs.toFixed(1)} ms (${((rawMs / keystrokes) * 1000).toFixed(2)} µs/delta)`,
    `engine.apply:      ${engineMs.toFixed(1)} ms (${((engineMs / keystrokes) * 1000).toFixed(2)} µs/delta)`,
    `ratio: ${(engineMs / rawMs).toFixed(2)}× (validation before every apply; goal ≤ 1.5×)`,
  ].join("\n");
}
