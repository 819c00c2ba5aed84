/**
 * Finding 2: mutated valid Automerge changes (bit flips, truncation, splices,
 * inserted bytes, with the chunk checksum fixed half the time so the decoder
 * is reached) POSTed as binary updates to four Automerge documents, as the
 * review's fuzzing did. The first change of the corpus has no dependencies,
 * so its mutations apply to any document. Then each document takes a 70 KB
 * write (its log compacts), both regions restart, and each document must
 * read, take a write and replicate, in both regions.
 */
import { corpus, fixAutomergeChecksum, mutate } from "../fuzz/targets.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { unhealthy } from "./checks.ts";
import { startProbeRegions } from "./regions.ts";
import { count, newRow, type Probe } from "./row.ts";

export const probe2: Probe = async ({ full }) => {
  const row = newRow(2, "mutated (non-canonical) Automerge changes");
  const regions = await startProbeRegions(["a", "b"]);
  const ids = ["nc-0", "nc-1", "nc-2", "nc-3"];
  try {
    for (const id of ids) await regions.api("a", `/v1/docs/${id}`, { method: "PUT", json: { kind: "automerge", init: { v: 1, l: [1] } } });
    const changes = corpus("automerge");
    const random = createSeededRandom(2);
    const inputs = full ? 100_000 : 1000;
    for (let n = 0; n < inputs; n++) {
      let delta = mutate(changes[random.int(changes.length)]!, changes, random);
      if (random.int(2) === 0) delta = fixAutomergeChecksum(delta);
      await count(row, regions.api("a", `/v1/docs/${ids[n % ids.length]}/updates`, { method: "POST", body: Buffer.from(delta), headers: { "content-type": "application/octet-stream" } }));
    }
    for (const id of ids) await regions.api("a", `/v1/docs/${id}`, { method: "PATCH", json: { ops: [{ op: "set", path: ["big"], value: "x".repeat(70_000) }] } });
    for (const id of ["a", "b"]) {
      await regions.stop(id);
      await regions.start(id);
    }
    const failures = [...await unhealthy(regions, "a", ids, "b"), ...await unhealthy(regions, "b", ids, "a")];
    row.poisoned = new Set(failures.map((f) => f.split(":")[0])).size;
    row.notes = `${inputs} inputs (seed 2) over ${ids.length} documents; after compaction and a restart of both regions: ${failures.length === 0 ? "all read, write and replicate both ways" : failures.join("; ")}`;
  } finally {
    await regions.close();
  }
  return row;
};
