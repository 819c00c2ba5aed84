/** Tiny benchmark helpers: timing, formatting, and the shared editing traces when present. */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";

export async function timed<T>(fn: () => Promise<T> | T): Promise<{ ms: number; result: T }> {
  const start = performance.now();
  const result = await fn();
  return { ms: performance.now() - start, result };
}

export const opsPerSec = (ops: number, ms: number) => Math.round((ops / ms) * 1000);

export function table(rows: Array<Record<string, string | number>>): string {
  const columns = Object.keys(rows[0] ?? {});
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padStart(widths[i]!)).join("  ");
  return [line(columns), line(widths.map((w) => "-".repeat(w))), ...rows.map((r) => line(columns.map((c) => String(r[c]))))].join("\n");
}

export interface SequentialTrace {
  endContent: string;
  txns: Array<{ patches: Array<[number, number, string]> }>;
}

/** A trace from ../shared/data/editing-traces, or undefined on a machine without it. */
export function loadTrace(name: string): SequentialTrace | undefined {
  const path = fileURLToPath(new URL(`../../../shared/data/editing-traces/sequential/${name}.json.gz`, import.meta.url));
  if (!existsSync(path)) return undefined;
  return JSON.parse(gunzipSync(readFileSync(path)).toString("utf8"));
}
