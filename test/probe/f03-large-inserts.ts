/**
 * Finding 3: large Automerge text inserts, as a PATCH insertText, as a binary
 * change, and (--full) the review's 7 MB PATCH and 1,000 ops × 8 KB. Each is
 * timed, and so is the longest the event loop was held (both regions run in
 * this process, so a stall anywhere shows). Then the document must read,
 * take a write and reach the peer.
 */
import * as Automerge from "@automerge/automerge";
import { unhealthy } from "./checks.ts";
import { startProbeRegions } from "./regions.ts";
import { count, longestStall, newRow, type Probe } from "./row.ts";

export const probe3: Probe = async ({ full }) => {
  const row = newRow(3, "large Automerge inserts");
  const regions = await startProbeRegions(["a", "b"]);
  const notes: string[] = [];
  try {
    const chars = full ? 300_000 : 30_000;
    const attempts: Array<[string, string, () => Promise<Response>]> = [];
    const patch = (id: string, ops: unknown[]) => () => regions.api("a", `/v1/docs/${id}`, { method: "PATCH", json: { ops } });
    attempts.push([`insertText ${chars} chars`, "t1", patch("t1", [{ op: "insertText", path: ["t"], index: 0, text: "x".repeat(chars) }])]);
    // A binary change made by a client: a splice of `chars` characters into the document's text.
    attempts.push([`binary change, ${chars} chars`, "t2", () => regions.api("a", "/v1/docs/t2/updates", { method: "POST", body: Buffer.from(change), headers: { "content-type": "application/octet-stream" } })]);
    if (full) {
      attempts.push(["7 MB PATCH", "t3", patch("t3", [{ op: "insertText", path: ["t"], index: 0, text: "z".repeat(7_000_000) }])]);
      attempts.push(["1,000 ops × 8 KB", "t4", patch("t4", Array.from({ length: 1000 }, () => ({ op: "insertText", path: ["t"], index: 0, text: "w".repeat(8192) })))]);
    }
    for (const [, id] of attempts) await regions.api("a", `/v1/docs/${id}`, { method: "PUT", json: { kind: "automerge", init: { t: "" } } });
    // The client's change is made before anything is timed: only the region's work counts.
    const state = new Uint8Array(await (await regions.api("a", "/v1/docs/t2?format=update")).arrayBuffer());
    const change = Automerge.getLastLocalChange(Automerge.change(Automerge.load<{ t: string }>(state), (d) => Automerge.splice(d, ["t"], 0, 0, "y".repeat(chars))))!;
    for (const [label, , send] of attempts) {
      const started = performance.now();
      const hungBefore = row.hung;
      const { value, stallMs } = await longestStall(() => count(row, send()));
      if (stallMs > 1000 && row.hung === hungBefore) row.hung++;
      notes.push(`${label}: ${value.status} in ${Math.round(performance.now() - started)} ms, event loop held ≤ ${stallMs} ms`);
    }
    const failures = await unhealthy(regions, "a", attempts.map(([, id]) => id), "b");
    row.poisoned = failures.length;
    notes.push(failures.length === 0 ? "after: each reads, writes and replicates" : `after: ${failures.join("; ")}`);
    row.notes = notes.join("; ");
  } finally {
    await regions.close();
  }
  return row;
};
