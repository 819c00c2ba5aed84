/**
 * Finding 11: documents with canary ids created, written, read, streamed and
 * deleted through a region that logs every request (pino to server.log, as
 * concord serve does); then server.log and the whole data directory are
 * grepped for each canary, raw, URL-encoded, base64, base64url and hex.
 * "poisoned" counts hits (ids readable at rest or in the log).
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { startProbeRegions } from "./regions.ts";
import { count, newRow, type Probe } from "./row.ts";

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await files(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

const encodings = (id: string) => [id, encodeURIComponent(id), Buffer.from(id).toString("base64"), Buffer.from(id).toString("base64url"), Buffer.from(id).toString("hex")];

export const probe11: Probe = async ({ full }) => {
  const row = newRow(11, "document ids in logs and at rest");
  const { tempDir } = await import("../helpers/replicas.ts");
  const logDir = await tempDir("concord-probe-log-");
  const logFile = join(logDir.path, "server.log");
  const destination = pino.destination({ dest: logFile, sync: true });
  const regions = await startProbeRegions(["a"], { logger: pino({ level: "info" }, destination) });
  const canaries = Array.from({ length: full ? 60 : 20 }, (_, i) => `canary-${i}-${Math.random().toString(36).slice(2, 10)}`);
  try {
    for (const [i, id] of canaries.entries()) {
      await count(row, regions.api("a", `/v1/docs/${id}`, { method: "PUT", json: { kind: i % 2 ? "yjs" : "automerge" } }));
      await count(row, regions.api("a", `/v1/docs/${id}`, { method: "PATCH", json: { ops: [{ op: "set", path: i % 2 ? ["m", "v"] : ["v"], value: 1 }] } }));
      await count(row, regions.api("a", `/v1/docs/${id}`));
      await count(row, regions.api("a", `/v1/docs/${id}/nope`));
      if (i % 4 === 0) await count(row, regions.api("a", `/v1/docs/${id}`, { method: "DELETE" }));
    }
    // A control the grep must find: a canary this probe logs itself.
    const control = `control-${Math.random().toString(36).slice(2, 10)}`;
    pino({}, destination).info({ path: `/v1/docs/${control}` }, "control line");
    await regions.stop("a");
    destination.flushSync();
    let logHits = 0;
    let restHits = 0;
    const log = await readFile(logFile);
    for (const id of canaries) for (const form of encodings(id)) logHits += log.includes(form) ? 1 : 0;
    for (const path of await files(regions.path)) {
      const bytes = await readFile(path);
      for (const id of canaries) for (const form of encodings(id)) restHits += bytes.includes(form) ? 1 : 0;
    }
    const controlHits = encodings(control).filter((form) => log.includes(form)).length;
    if (controlHits === 0) throw new Error("the log grep does not find a control canary the probe logged itself");
    row.poisoned = logHits + restHits;
    row.notes = `${canaries.length} canary ids; server.log ${log.length} bytes: ${logHits} hits; data directory: ${restHits} hits (raw, URL-encoded, base64, base64url, hex; a control id the probe logged itself: found)`;
  } finally {
    await regions.close();
    await logDir.remove();
  }
  return row;
};
