/**
 * `concord index add|list|drop`: manages a running region's secondary
 * indexes over HTTP (PUT/GET/DELETE /v1/indexes/:name, scope admin). The
 * definitions replicate to every region, each of which backfills a new index
 * in the background; `add` shows that progress until the index is ready here.
 */
import { sleep } from "../runtime/wall-time.ts";
import { join } from "node:path";
import { ConcordError } from "../errors.ts";
import { readTopologyFile } from "../server/topology-file.ts";
import type { Command } from "./command.ts";
import { defineCommand, requireFlag } from "./command.ts";

const help = `Usage:
  concord index add NAME --path PATH --type string|number|boolean [--order] [--no-wait] (--region ID | --url URL)
  concord index list (--region ID | --url URL)
  concord index drop NAME (--region ID | --url URL)

Secondary indexes make documents findable by what they hold (GET /v1/docs?where=…,
POST /v1/query). An index reads one path of each document's JSON view (e.g.
meta.status) and holds values of one type; a document without such a value
there is not in it. Definitions replicate to every region; each region fills
a new index in the background ("add" shows progress until it is ready in the
region asked, unless --no-wait) and maintains it with every write after.

At rest an index is as sealed as the documents: an equality index (the
default) reveals only which documents share a value (keyed hashes); --order
makes a range/order index, which also reveals the order of values, their
lengths and roughly each value (an order-revealing encoding): opt in per index.

Options:
  --path PATH        dot path into the document's JSON (add)
  --type TYPE        string, number or boolean (add)
  --order            an order index: answers < <= > >= prefix and orderBy (add)
  --no-wait          return once defined, without waiting for the backfill (add)
  --region ID        the region to ask; its URL comes from the topology
  --topology FILE    where to find the region's URL (default regions/local.json)
  --url URL          the region's URL, instead of the topology's
  --token TOKEN      an admin token (default $CONCORD_TOKEN, then $TOKEN)
  -h, --help         this help

Examples:
  concord index add status --path meta.status --type string --region us-east
  concord index add due --path meta.due --type number --order --region us-east
  concord index list --region eu-west
`;

interface Target {
  url: string;
  token: string | undefined;
}

async function call(target: Target, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  let response: Response;
  try {
    response = await fetch(`${target.url.replace(/\/+$/, "")}${path}`, {
      method,
      headers: { ...(target.token ? { authorization: `Bearer ${target.token}` } : {}), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (cause) {
    throw new ConcordError("unavailable", `cannot reach ${target.url}: ${(cause as Error).message}`, { cause });
  }
  const json: unknown = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok && response.status !== 404) {
    const message = (json as { error?: { message?: string } } | null)?.error?.message ?? response.statusText;
    const hint = response.status === 401 ? " (pass --token or set $CONCORD_TOKEN)" : response.status === 403 ? ' (the token needs the "admin" scope)' : "";
    throw new ConcordError(response.status === 400 ? "invalid_argument" : response.status === 401 ? "unauthorized" : response.status === 403 ? "forbidden" : "unavailable", `${method} ${path}: ${response.status} ${message}${hint}`);
  }
  return { status: response.status, json };
}

interface Listed {
  indexes: Array<{ name: string; path: string; type: string; kind: string; state: string }>;
  status: { building: string[]; docsDone: number; error?: string };
}

export const indexCommand: Command = defineCommand({
  name: "index",
  summary: "add, list or drop secondary indexes (replicated to every region)",
  help,
  bareIsUsage: true,
  flags: {
    path: { type: "string" },
    type: { type: "string" },
    order: { type: "boolean" },
    "no-wait": { type: "boolean" },
    region: { type: "string" },
    topology: { type: "string" },
    url: { type: "string" },
    token: { type: "string" },
  },
  async run(values, positionals) {
    const [action, name] = positionals;
    const url = values.url ?? (await readTopologyFile(values.topology ?? join("regions", "local.json"))).region(requireFlag(values.region, "--region (or --url)")).url;
    const target = { url, token: values.token ?? process.env["CONCORD_TOKEN"] ?? process.env["TOKEN"] };
    if (action === "list") {
      const { json } = await call(target, "GET", "/v1/indexes");
      const { indexes, status } = json as Listed;
      if (indexes.length === 0) process.stdout.write("no indexes\n");
      for (const i of indexes) process.stdout.write(`${i.name}\t${i.path}\t${i.type}\t${i.kind}\t${i.state}\n`);
      if (status.building.length > 0) process.stdout.write(`building ${status.building.join(", ")}: ${status.docsDone} documents done\n`);
      return 0;
    }
    const indexName = requireFlag(name, "an index NAME");
    if (action === "drop") {
      const { status } = await call(target, "DELETE", `/v1/indexes/${encodeURIComponent(indexName)}`);
      if (status === 404) throw new ConcordError("not_found", `no index "${indexName}"`);
      process.stdout.write(`dropped ${indexName} (its entries are purged in the background in every region)\n`);
      return 0;
    }
    if (action !== "add") throw new ConcordError("invalid_argument", `unknown action "${String(action)}": add, list or drop`);
    const def = { path: requireFlag(values.path, "--path"), type: requireFlag(values.type, "--type"), kind: values.order ? "order" : "equality" };
    await call(target, "PUT", `/v1/indexes/${encodeURIComponent(indexName)}`, def);
    process.stdout.write(`defined ${indexName} on ${def.path} (${def.type}, ${def.kind})\n`);
    if (values["no-wait"]) return 0;
    // The backfill's progress line, until the index serves queries in this region.
    for (;;) {
      const { json } = await call(target, "GET", "/v1/indexes");
      const { indexes, status } = json as Listed;
      if (status.error) throw new ConcordError("unavailable", `the backfill failed: ${status.error}`);
      if (indexes.find((i) => i.name === indexName)?.state !== "building") break;
      process.stderr.write(`backfilling ${indexName}: ${status.docsDone} documents done\n`);
      await sleep(500);
    }
    process.stdout.write(`${indexName} is ready\n`);
    return 0;
  },
});
