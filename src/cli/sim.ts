/**
 * `concord sim`: the deterministic partition simulator. One seed runs five
 * regions of real replicas through partitions, crashes, loss and reordering,
 * heals everything and checks convergence, lost writes, liveness, memory and
 * durability; `--seeds A..B` sweeps; every failure prints its replay command.
 */
import { readFile, writeFile } from "node:fs/promises";
import { ConcordError } from "../errors.ts";
import { stopwatch } from "../runtime/wall-time.ts";
import { defaultOptions, parseBugs, parseNemesis, replayCommand, type SimOptions } from "../../sim/options.ts";
import { nemesisKinds } from "../../sim/nemesis.ts";
import { renderReport } from "../../sim/report.ts";
import { runSimulation, type SimProgress, type SimResult } from "../../sim/run.ts";
import { parseScenario } from "../../sim/scenario.ts";
import { percentile, runSweep, parseSeeds, type SweepResult } from "../../sim/sweep.ts";
import { readTopologyFile, simTopology } from "../../sim/topology-file.ts";
import type { Command } from "./command.ts";
import { defineCommand } from "./command.ts";
import { createProgress } from "./progress.ts";

const help = `Usage:
  concord sim [--seed N] [options]          one run, a live progress line, then a summary
  concord sim --seeds 1..1000 [options]     a sweep: progress bar, table, replay command per failure

Runs N regions of the real replica and gossip code in one process on virtual
time, with a seeded network (latency matrix from the topology, jitter, loss,
duplication, reordering, a bandwidth limit) and a nemesis. After the chaos
phase everything is healed (partitions, pauses, clock skew; crashed regions
restart) and the checker requires:
  1. convergence   every region holds the same documents, same versions, same canonical JSON
  2. no lost write every acknowledged write is on every region; counters add up
  3. liveness      convergence within --bound-ms of virtual time after the final heal
  4. memory        per-peer queues and pending deltas stay within their bounds
  5. durability    each region reopened from its disk alone holds what it served
The same seed and options give the same trace hash, bit for bit.

Options:
  --seed N                  the seed (default 1)
  --seeds SPEC              sweep seeds: FROM..TO or a comma list (e.g. 1..1000)
  --regions N               regions, the first N of the topology (default ${defaultOptions.regions})
  --docs N                  documents, half Yjs, half Automerge (default ${defaultOptions.docs})
  --ops N                   client writes during the chaos phase (default ${defaultOptions.ops})
  --nemesis LIST            faults drawn per seed, comma-separated, or all / none (default all):
                            ${nemesisKinds.join(", ")}
  --scenario FILE           scripted faults from a JSON file instead (see sim/scenarios/)
  --inject-bug NAME         turn on a deliberate defect (repeatable): drop-deltas,
                            ack-before-durable, skip-remote-persist,
                            racy-container-create, serve-rolled-back-tail
  --chaos-ms MS             length of the chaos phase, virtual (default ${defaultOptions.chaosMs})
  --bound-ms MS             liveness bound after the final heal, virtual (default ${defaultOptions.convergenceBoundMs})
  --write-latency-ms MS     time for a store write to become durable (default ${defaultOptions.writeLatencyMs})
  --queue-max-bytes N       per-peer gossip queue bound (default ${defaultOptions.queueMaxBytes})
  --bandwidth N             bytes per virtual ms on each directed link, 0 = unlimited (default ${defaultOptions.bandwidthBytesPerMs})
  --topology FILE           latency matrix (default regions/five.json)
  --expect-caught PCT       with --inject-bug in a sweep: exit 0 only if the checker caught the bug
                            (any violation) on at least PCT % of the seeds; the catch rate is printed
                            as "caught N/M" either way
  --json                    print one JSON object (per seed, one per line, in a sweep)
  --report FILE             write a self-contained HTML report (single runs)
  -h, --help                this help

Exit code: 0 when every check passed, 1 on any violation, 2 on bad arguments.

Examples:
  npx concord sim --seed 42 --regions 5 --docs 50 --ops 5000 --nemesis partition,crash,loss,dup,reorder,clog,skew
  npx concord sim --seeds 1..1000 --docs 4 --ops 150 --chaos-ms 5000
  npx concord sim --seed 7 --inject-bug drop-deltas --report out.html
  npx concord sim --seeds 1..40 --docs 3 --ops 100 --chaos-ms 3000 --inject-bug ack-before-durable --expect-caught 95
  npx concord sim --scenario sim/scenarios/ack-before-durable.json --inject-bug ack-before-durable
`;

const int = (value: string | undefined, flag: string, fallback: number): number => {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new ConcordError("invalid_argument", `${flag} must be a whole number >= 0, got "${value}"`);
  return n;
};

export const simCommand: Command = defineCommand({
  name: "sim",
  summary: "run the deterministic partition simulator (one seed or a sweep)",
  help,
  flags: {
    seed: { type: "string" }, seeds: { type: "string" }, regions: { type: "string" }, docs: { type: "string" },
    ops: { type: "string" }, nemesis: { type: "string" }, scenario: { type: "string" },
    "inject-bug": { type: "string", multiple: true }, "chaos-ms": { type: "string" }, "bound-ms": { type: "string" },
    "write-latency-ms": { type: "string" }, "queue-max-bytes": { type: "string" }, bandwidth: { type: "string" }, topology: { type: "string" },
    json: { type: "boolean" }, report: { type: "string" }, "expect-caught": { type: "string" },
  },
  async run(values) {
    const topologyJson = readTopologyFile(values.topology);
    const options: SimOptions = {
      ...defaultOptions,
      seed: int(values.seed, "--seed", defaultOptions.seed),
      regions: int(values.regions, "--regions", defaultOptions.regions),
      docs: Math.max(1, int(values.docs, "--docs", defaultOptions.docs)),
      ops: int(values.ops, "--ops", defaultOptions.ops),
      nemesis: values.nemesis === undefined ? defaultOptions.nemesis : parseNemesis(values.nemesis),
      bugs: parseBugs(values["inject-bug"] ?? []),
      chaosMs: Math.max(100, int(values["chaos-ms"], "--chaos-ms", defaultOptions.chaosMs)),
      convergenceBoundMs: int(values["bound-ms"], "--bound-ms", defaultOptions.convergenceBoundMs),
      writeLatencyMs: int(values["write-latency-ms"], "--write-latency-ms", defaultOptions.writeLatencyMs),
      queueMaxBytes: int(values["queue-max-bytes"], "--queue-max-bytes", defaultOptions.queueMaxBytes),
      bandwidthBytesPerMs: int(values.bandwidth, "--bandwidth", defaultOptions.bandwidthBytesPerMs),
      topology: topologyJson,
      ...(values.topology !== undefined ? { topologyPath: values.topology } : {}),
    };
    if (values.scenario !== undefined) {
      const regions = simTopology(topologyJson, options.regions).regions;
      let json: unknown;
      try {
        json = JSON.parse(await readFile(values.scenario, "utf8"));
      } catch (cause) {
        throw new ConcordError("invalid_argument", `cannot read scenario ${values.scenario}: ${(cause as Error).message}`, { cause });
      }
      const scenario = parseScenario(json, regions);
      Object.assign(options, { script: scenario.actions, scenarioPath: values.scenario });
      if (values["chaos-ms"] === undefined && scenario.chaosMs !== undefined) options.chaosMs = scenario.chaosMs;
      if (values.docs === undefined && scenario.docs !== undefined) options.docs = scenario.docs;
      if (values.ops === undefined && scenario.ops !== undefined) options.ops = scenario.ops;
      if (values["write-latency-ms"] === undefined && scenario.writeLatencyMs !== undefined) options.writeLatencyMs = scenario.writeLatencyMs;
    }
    if (values.seeds !== undefined && values.report !== undefined) {
      throw new ConcordError("invalid_argument", "--report draws one run: replay a seed of the sweep with --seed N --report FILE");
    }
    const expectCaught = values["expect-caught"] === undefined ? undefined : int(values["expect-caught"], "--expect-caught", 100);
    if (expectCaught !== undefined && (options.bugs.length === 0 || values.seeds === undefined || expectCaught > 100)) {
      throw new ConcordError("invalid_argument", "--expect-caught PCT (0..100) measures a sweep (--seeds) with --inject-bug");
    }
    if (values.seeds !== undefined) return sweep(parseSeeds(values.seeds), options, values.json === true, expectCaught);
    return single(options, values.json === true, values.report);
  },
});

async function single(options: SimOptions, json: boolean, reportPath: string | undefined): Promise<number> {
  const tty = process.stderr.isTTY === true;
  process.stderr.write(`concord sim: ${replayCommand(options)}\n`);
  let lastDraw = -1;
  const progress = (p: SimProgress) => {
    const line = `${p.phase.padEnd(7)} t=${(p.virtualMs / 1000).toFixed(1).padStart(6)}s  events ${p.events}  acked ${p.acked}  divergent docs ${p.divergent}`;
    if (tty) process.stderr.write(`\r${line}\u001b[K`);
    else if (Math.floor(p.virtualMs / 5000) !== lastDraw) {
      lastDraw = Math.floor(p.virtualMs / 5000);
      process.stderr.write(`${line}\n`);
    }
  };
  const elapsed = stopwatch();
  const result = await runSimulation(options, progress);
  const wallMs = elapsed();
  if (tty) process.stderr.write("\n");
  if (reportPath !== undefined) {
    await writeFile(reportPath, renderReport(result));
    process.stderr.write(`report written to ${reportPath}\n`);
  }
  if (json) process.stdout.write(`${JSON.stringify(jsonResult(result))}\n`);
  else process.stdout.write(summaryText(result, wallMs));
  return result.violations.length === 0 ? 0 : 1;
}

/** The JSON form of a run: the figures, without the sampled timeline. */
function jsonResult(r: SimResult) {
  const { timeline, options, ...rest } = r;
  return { ...rest, healAtMs: timeline.healAtMs, endMs: timeline.endMs, faults: timeline.actions.length, options };
}

function summaryText(r: SimResult, wallMs: number): string {
  const ok = r.violations.length === 0;
  const lines = [
    `${ok ? "PASS" : "FAIL"}  seed ${r.seed}: ${r.regions.length} regions, ${r.options.docs} docs, ${r.writes.acked}/${r.writes.attempted} writes acknowledged, ${r.crashes} crash(es), ${r.timeline.actions.length} nemesis actions`,
    `  converged      ${r.converged ? "yes" : "NO"}${r.convergenceMs === null ? "" : `, ${r.convergenceMs} ms (virtual) after the final heal (bound ${r.options.convergenceBoundMs} ms)`}`,
    `  lost writes    ${r.lostWrites}`,
    `  network        ${r.messages} messages, ${r.bytes} bytes, ${r.network.lost} lost, ${r.network.duplicated} duplicated, ${r.network.timeouts} timeouts`,
    `  memory         peak peer queue ${r.peakQueueBytes} bytes (bound ${r.options.queueMaxBytes})`,
    `  writes failed  ${Object.entries(r.writes.failed).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}; ${r.writes.unanswered} cut off by crashes; ${r.writes.skipped} skipped (region down)`,
    `  events         ${r.events} in ${(wallMs / 1000).toFixed(2)} s (${Math.round(r.events / (wallMs / 1000))} events/s), virtual ${(r.timeline.endMs / 1000).toFixed(1)} s`,
    `  trace hash     ${r.traceHash}`,
  ];
  if (!ok) {
    lines.push("  violations:");
    for (const v of r.violations) lines.push(`    [${v.kind}] ${v.message}`);
    lines.push(`  replay: ${r.replay}`);
  }
  return `${lines.join("\n")}\n`;
}

async function sweep(seeds: number[], options: SimOptions, json: boolean, expectCaught?: number): Promise<number> {
  process.stderr.write(`concord sim: sweeping ${seeds.length} seed(s) with ${replayCommand({ ...options, seed: seeds[0] ?? 0 }).replace(/--seed \d+ /, "")}\n`);
  const bar = createProgress("seeds");
  const elapsed = stopwatch();
  const result = await runSweep(seeds, options, (summary, done) => {
    if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    // Measuring a catch rate, a failing seed is the expected outcome: only the rate and the misses matter.
    else if (!summary.ok && expectCaught === undefined) {
      const all = summary.violations.map((v) => `  ${v}\n`).join("");
      process.stderr.write(`${process.stderr.isTTY ? "\r\u001b[K" : ""}FAIL seed ${summary.seed}: ${violationCounts(summary.violations)}\n${all}  replay: ${summary.replay}\n`);
    }
    bar.update(done, seeds.length);
  });
  const wallMs = elapsed();
  bar.finish();
  const exitCode = sweepExitCode(result.failures.length, seeds.length, expectCaught);
  const caught = options.bugs.length > 0 ? `${catchLine(options, result, expectCaught)}\n` : "";
  if (json) {
    process.stderr.write(caught);
    return exitCode;
  }
  const times = result.seeds.flatMap((s) => (s.convergenceMs === null ? [] : [s.convergenceMs]));
  const ms = (v: number | undefined) => (v === undefined ? "-" : `${v} ms`);
  const rows: Array<[string, string]> = [
    ["seeds", String(seeds.length)],
    ["passed", String(seeds.length - result.failures.length)],
    ["failed", String(result.failures.length)],
    ["convergence p50 / p99 / max", `${ms(percentile(times, 50))} / ${ms(percentile(times, 99))} / ${ms(percentile(times, 100))}`],
    ["events", `${result.events} (${Math.round(result.events / (wallMs / 1000))}/s)`],
    ["wall time", `${(wallMs / 1000).toFixed(1)} s (${(seeds.length / (wallMs / 1000)).toFixed(2)} seeds/s)`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  let out = rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join("\n") + "\n";
  if (result.failures.length > 0 && expectCaught === undefined) {
    out += `\n  seed    lost  convergence  violations\n`;
    for (const f of result.failures) {
      out += `  ${String(f.seed).padEnd(6)}  ${String(f.lostWrites).padStart(4)}  ${ms(f.convergenceMs ?? undefined).padStart(11)}  ${violationCounts(f.violations)}\n`;
    }
    out += `\nreplay:\n${result.failures.map((f) => `  ${f.replay}`).join("\n")}\n`;
  }
  process.stdout.write(out + caught);
  return exitCode;
}

/** Every violation of a seed by kind, e.g. "3 violation(s): lost-write ×2, liveness". */
function violationCounts(violations: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const v of violations) counts.set(v.split(":")[0]!, (counts.get(v.split(":")[0]!) ?? 0) + 1);
  return `${violations.length} violation(s): ${[...counts].map(([kind, n]) => (n > 1 ? `${kind} ×${n}` : kind)).join(", ")}`;
}

/** With an injected bug, a failing seed is a seed where the checker caught it. */
function catchLine(options: SimOptions, result: SweepResult, expectCaught: number | undefined): string {
  const caught = result.failures.length;
  const seeds = result.seeds.length;
  const missed = result.seeds.filter((s) => s.ok).map((s) => s.seed);
  const rate = `caught ${caught}/${seeds} (${((100 * caught) / Math.max(1, seeds)).toFixed(1)} %) with --inject-bug ${options.bugs.join(",")}` +
    (missed.length > 0 ? `; missed seeds ${missed.slice(0, 20).join(",")}${missed.length > 20 ? ",…" : ""}` : "");
  return expectCaught === undefined ? rate : `${rate}; expected at least ${expectCaught} %: ${sweepExitCode(caught, seeds, expectCaught) === 0 ? "ok" : "TOO LOW"}`;
}

function sweepExitCode(failures: number, seeds: number, expectCaught: number | undefined): number {
  if (expectCaught === undefined) return failures === 0 ? 0 : 1;
  return failures * 100 >= expectCaught * seeds ? 0 : 1;
}
