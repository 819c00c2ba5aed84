/**
 * Finding 6: a region whose tokens.json was deleted is restarted without
 * choosing --auth off: it must refuse to start with a clear error, not run
 * open. A PUT without a token to a region with tokens must get 401. With
 * --auth off chosen, the status page must say so.
 */
import { rm } from "node:fs/promises";
import { isConcordError } from "../../src/errors.ts";
import { tokensFile } from "../../src/server/tokens-file.ts";
import { startProbeRegions } from "./regions.ts";
import { count, newRow, type Probe } from "./row.ts";

export const probe6: Probe = async () => {
  const row = newRow(6, "missing tokens.json");
  const regions = await startProbeRegions(["a"]);
  const notes: string[] = [];
  try {
    const open = await count(row, fetch(`${regions.get("a").url}/v1/docs/open-doc`, { method: "PUT", body: '{"kind":"yjs"}', headers: { "content-type": "application/json" } }));
    notes.push(`PUT without a token: ${open.status}`);
    await regions.stop("a");
    await rm(tokensFile(regions.dataDir("a")));
    row.tried++;
    try {
      await regions.start("a");
      row.accepted++;
      notes.push("restart without tokens.json: started open");
    } catch (error) {
      if (isConcordError(error)) row.refused++;
      else row.crashed++;
      notes.push(`restart without tokens.json: refused to start (${isConcordError(error) ? error.code : String(error)})`);
    }
    const region = await regions.start("a", { auth: "off" });
    const page = await (await fetch(`${region.url}/`)).text();
    notes.push(`with --auth off: starts, status page ${/auth(entication)? (is )?off/i.test(page) ? "says authentication is off" : "does NOT say authentication is off"}`);
    if (!/auth(entication)? (is )?off/i.test(page)) row.poisoned++;
    row.notes = notes.join("; ");
  } finally {
    await regions.close();
  }
  return row;
};
