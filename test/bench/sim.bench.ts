/**
 * Issue 4's benchmark: simulated events per second for a 5-region run, and
 * seeds per second in a sweep of CI-sized seeds. Baselines in the same run:
 * the bare scheduler (an empty event plus the microtask drain between events:
 * the simulator's ceiling) and an idle cluster (gossip timers only, no writes,
 * no faults: what the real replication code costs per event).
 */
import { drainMicrotasks } from "../../sim/drain.ts";
import { runSimulation } from "../../sim/run.ts";
import { createScheduler } from "../../sim/scheduler.ts";
import { runSweep } from "../../sim/sweep.ts";
import { sweepOptions } from "../sim/sweep-options.ts";
import { opsPerSec, table, timed } from "./harness.ts";

async function bareScheduler(events: number): Promise<number> {
  const s = createScheduler();
  for (let i = 0; i < events; i++) s.after(i % 97, () => undefined);
  const { ms } = await timed(async () => {
    for (let fn = s.next(Number.POSITIVE_INFINITY); fn; fn = s.next(Number.POSITIVE_INFINITY)) {
      fn();
      await drainMicrotasks();
    }
  });
  return opsPerSec(events, ms);
}

export async function run(): Promise<string> {
  await runSimulation({ seed: 1, docs: 2, ops: 20, chaosMs: 1000 }); // warm-up: wasm, sodium, JIT
  const rows: Array<Record<string, string | number>> = [];
  rows.push({ run: "bare scheduler + drain (ceiling)", events: 200_000, "wall ms": "-", "events/s": await bareScheduler(200_000) });
  const idle = await timed(() => runSimulation({ seed: 1, docs: 0, ops: 0, nemesis: [], chaosMs: 20_000 }));
  rows.push({ run: "5 regions idle (gossip only), 20 s", events: idle.result.events, "wall ms": Math.round(idle.ms), "events/s": opsPerSec(idle.result.events, idle.ms) });
  const full = await timed(() => runSimulation({ seed: 1 }));
  rows.push({ run: "5 regions, 10 docs, 300 writes, all nemeses", events: full.result.events, "wall ms": Math.round(full.ms), "events/s": opsPerSec(full.result.events, full.ms) });
  const seeds = Array.from({ length: 20 }, (_, i) => i + 1);
  const sweep = await timed(() => runSweep(seeds, sweepOptions));
  const sweepLine = `sweep of ${seeds.length} CI-sized seeds (5 regions, ${sweepOptions.docs} docs, ${sweepOptions.ops} writes, ${sweepOptions.chaosMs} ms chaos): `
    + `${(seeds.length / (sweep.ms / 1000)).toFixed(2)} seeds/s, ${opsPerSec(sweep.result.events, sweep.ms)} events/s, ${sweep.result.failures.length} failure(s)`;
  return `${table(rows)}\n${sweepLine}\nan event is one scheduled callback (timer, message leg, write, nemesis action); the writes' CRDT work and sealing dominate`;
}
