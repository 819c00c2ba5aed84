/**
 * Finding 4: PATCH values nested 63 to 20,000 deep on a Yjs document. Then
 * the document must read, take a write, stream events (SSE answers 200) and
 * reach the peer, and the region must push later writes.
 */
import { unhealthy } from "./checks.ts";
import { startProbeRegions } from "./regions.ts";
import { count, newRow, type Probe } from "./row.ts";

const nested = (depth: number, object: boolean) => (object ? '{"a":' : "[").repeat(depth) + "1" + (object ? "}" : "]").repeat(depth);

export const probe4: Probe = async ({ full }) => {
  const row = newRow(4, "deep nested PATCH values on Yjs");
  const regions = await startProbeRegions(["a", "b"]);
  try {
    await regions.api("a", "/v1/docs/y", { method: "PUT", json: { kind: "yjs" } });
    const depths = full ? [62, 63, 64, 65, 100, 8000, 20_000, 100_000] : [62, 63, 64, 65, 100, 8000, 20_000];
    const accepted: number[] = [];
    for (const depth of depths) {
      for (const object of [false, true]) {
        const body = `{"ops":[{"op":"set","path":["m","deep"],"value":${nested(depth, object)}}]}`;
        const { status } = await count(row, regions.api("a", "/v1/docs/y", { method: "PATCH", body, headers: { "content-type": "application/json" } }));
        if (status < 300) accepted.push(depth);
      }
    }
    const failures = await unhealthy(regions, "a", ["y"], "b");
    const events = new AbortController();
    const sse = await regions.api("a", "/v1/docs/y/events", { signal: events.signal });
    events.abort();
    if (sse.status !== 200) failures.push(`SSE ${sse.status}`);
    row.poisoned = failures.length;
    row.notes = `depths ${depths.join("/")} (arrays and objects); accepted up to depth ${Math.max(0, ...accepted)}; after: ${failures.length === 0 ? "reads, writes, streams and replicates" : failures.join("; ")}`;
  } finally {
    await regions.close();
  }
  return row;
};
