/** After-checks shared by the probes: does a document still read, take a write and reach a peer? */
import type { ProbeRegions } from "./regions.ts";
import { poll } from "./regions.ts";

const writeOp = (kind: string) => ({ ops: [{ op: "set", path: kind === "yjs" ? ["after", "ok"] : ["after"], value: Date.now() }] });

/**
 * Whether `id` reads and takes a write at `at`, and that write's version reaches `peer` (when given).
 * Returns what failed, or undefined.
 */
export async function docHealthy(regions: ProbeRegions, at: string, id: string, peer?: string): Promise<string | undefined> {
  const read = await regions.api(at, `/v1/docs/${id}`);
  if (!read.ok) return `${id}: GET ${read.status}`;
  const { kind } = (await read.json()) as { kind: string };
  const write = await regions.api(at, `/v1/docs/${id}`, { method: "PATCH", json: writeOp(kind) });
  if (!write.ok) return `${id}: PATCH ${write.status}`;
  if (!peer) return undefined;
  const reached = await poll(`${id} at ${peer}`, async () => {
    const there = await regions.api(peer, `/v1/docs/${id}`);
    if (!there.ok) return undefined;
    const view = (await there.json()) as { value: unknown };
    const here = (await (await regions.api(at, `/v1/docs/${id}`)).json()) as { value: unknown };
    return JSON.stringify(view.value) === JSON.stringify(here.value) ? true : undefined;
  }, 90_000).catch(() => false);
  return reached ? undefined : `${id}: did not converge at ${peer} within 90 s`;
}

/** Runs docHealthy for each id; returns the failures. */
export async function unhealthy(regions: ProbeRegions, at: string, ids: string[], peer?: string): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) {
    const failure = await docHealthy(regions, at, id, peer).catch((error: unknown) => `${id}: ${String(error)}`);
    if (failure) out.push(failure);
  }
  return out;
}
