/**
 * Finding 1: PATCHes setting deeply nested array values (1,200–4,000 levels)
 * on an Automerge document, in a short sequence (~7 KB in all, as the review
 * sent). Then Automerge and Yjs must still work in that region and reach its
 * peer, /readyz must be honest, and the process must be alive.
 */
import { unhealthy } from "./checks.ts";
import { startProbeRegions } from "./regions.ts";
import { count, newRow, type Probe } from "./row.ts";

const nested = (depth: number) => "[".repeat(depth) + "1" + "]".repeat(depth);

export const probe1: Probe = async ({ full }) => {
  const row = newRow(1, "deep nested PATCH values on Automerge");
  const regions = await startProbeRegions(["a", "b"]);
  try {
    await regions.api("a", "/v1/docs/am", { method: "PUT", json: { kind: "automerge", init: { v: 1 } } });
    await regions.api("a", "/v1/docs/y", { method: "PUT", json: { kind: "yjs" } });
    const depths = full ? [1200, 2000, 4000, 1200, 2000, 4000, 3000, 10_000, 50_000, 200_000] : [1200, 2000, 4000, 1200, 2000, 4000, 3000];
    let bytes = 0;
    for (const depth of depths) {
      const body = `{"ops":[{"op":"set","path":["deep"],"value":${nested(depth)}}]}`;
      bytes += body.length;
      await count(row, regions.api("a", "/v1/docs/am", { method: "PATCH", body, headers: { "content-type": "application/json" } }));
    }
    await regions.api("a", "/v1/docs/am2", { method: "PUT", json: { kind: "automerge" } });
    const failures = await unhealthy(regions, "a", ["am", "am2", "y"], "b");
    const ready = await regions.api("a", "/readyz");
    row.poisoned = failures.length;
    row.notes = `${depths.length} PATCHes (${bytes} bytes), depths ${depths.join("/")}; after: /readyz ${ready.status}, ${failures.length === 0 ? "Automerge and Yjs read, write and replicate" : failures.join("; ")}`;
  } finally {
    await regions.close();
  }
  return row;
};
