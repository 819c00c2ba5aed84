/** One row of the probe table, and the counting every probe shares. */
import { monitorEventLoopDelay } from "node:perf_hooks";

export interface ProbeRow {
  finding: number;
  what: string;
  tried: number;
  /** Refused with a clear 4xx (an error code in the body), or a refused gossip frame. */
  refused: number;
  accepted: number;
  /** 5xx, a dead engine or region, an error escaping. */
  crashed: number;
  /** Requests answered after more than 1 s, or the event loop held for more than 1 s. */
  hung: number;
  /** Documents or clients left broken (what each probe checks is in its notes). */
  poisoned: number;
  notes: string;
}

export interface ProbeOptions {
  /** The review's sizes and counts, not the quick defaults. */
  full: boolean;
}

export type Probe = (options: ProbeOptions) => Promise<ProbeRow>;

export const newRow = (finding: number, what: string): ProbeRow => ({ finding, what, tried: 0, refused: 0, accepted: 0, crashed: 0, hung: 0, poisoned: 0, notes: "" });

/** Counts one HTTP answer into `row` (tried, and refused / accepted / crashed, and hung when slower than 1 s). */
export async function count(row: ProbeRow, answer: Promise<Response>): Promise<{ status: number; body: string }> {
  const started = performance.now();
  row.tried++;
  let status = 0;
  let body = "";
  try {
    const response = await answer;
    status = response.status;
    body = await response.text();
  } catch (error) {
    body = String(error);
  }
  if (performance.now() - started > 1000) row.hung++;
  if (status >= 200 && status < 300) row.accepted++;
  else if (status >= 400 && status < 500 && /"code":"[a-z_]+"/.test(body)) row.refused++;
  else row.crashed++;
  return { status, body };
}

export const rssMiB = () => Math.round(process.memoryUsage().rss / 2 ** 20);

/** The longest the event loop was held while `run` ran, ms (in-process regions share this loop). */
export async function longestStall<T>(run: () => Promise<T>): Promise<{ value: T; stallMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  try {
    const value = await run();
    return { value, stallMs: Math.round(histogram.max / 1e6) };
  } finally {
    histogram.disable();
  }
}

export const columns = ["finding", "what", "tried", "refused (4xx)", "accepted", "crashed", "hung > 1 s", "poisoned", "notes"];

export const formatRow = (r: ProbeRow) =>
  `| ${[r.finding, r.what, r.tried, r.refused, r.accepted, r.crashed, r.hung, r.poisoned, r.notes].join(" | ")} |`;
