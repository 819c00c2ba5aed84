/**
 * Finding 12: rounds of event-stream subscribers that connect and go away
 * (300 per round by default, the review's 2,000 with --full), RSS of this
 * process (the region runs in it) after each round, after a GC when run with
 * --expose-gc (npm run probe does), and any MaxListenersExceededWarning.
 * "poisoned": such warnings; the RSS trend is in the notes.
 */
import { startProbeRegions } from "./regions.ts";
import { newRow, rssMiB, type Probe } from "./row.ts";

export const probe12: Probe = async ({ full }) => {
  const row = newRow(12, "SSE subscribe/disconnect rounds");
  const regions = await startProbeRegions(["a"]);
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warning.name === "MaxListenersExceededWarning" && warnings.push(warning.message);
  process.on("warning", onWarning);
  try {
    await regions.api("a", "/v1/docs/s", { method: "PUT", json: { kind: "yjs" } });
    const perRound = full ? 2000 : 300;
    const rounds = 5;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const rss = [rssMiB()];
    for (let r = 0; r < rounds; r++) {
      for (let from = 0; from < perRound; from += 100) {
        const aborts = Array.from({ length: Math.min(100, perRound - from) }, () => new AbortController());
        const answers = await Promise.all(aborts.map(async (abort) => {
          row.tried++;
          const answer = await regions.api("a", "/v1/docs/s/events", { signal: abort.signal }).catch(() => undefined);
          return answer?.status ?? 0;
        }));
        for (const status of answers) {
          if (status === 200) row.accepted++;
          else if (status >= 400 && status < 500) row.refused++;
          else row.crashed++;
        }
        for (const abort of aborts) abort.abort();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      gc?.();
      rss.push(rssMiB());
    }
    const stopped = performance.now();
    await regions.stop("a");
    row.poisoned = warnings.length;
    row.notes = `${rounds} rounds of ${perRound}; RSS${gc ? " after GC" : ""} ${rss.join(" → ")} MiB; MaxListenersExceededWarning: ${warnings.length}; stop() took ${Math.round(performance.now() - stopped)} ms`;
  } finally {
    process.off("warning", onWarning);
    await regions.close();
  }
  return row;
};
