/** Reading and writing topology files (regions/*.json) for the node entry and the CLI. */
import { readFile, writeFile } from "node:fs/promises";
import { loadSodium } from "../crypto/sodium.ts";
import { ConcordError } from "../errors.ts";
import { parseTopology, topologyToJSON, type Topology } from "../gossip/topology.ts";

export async function readTopologyFile(path: string): Promise<Topology> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new ConcordError("invalid_argument", `cannot read the topology ${path}`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ConcordError("invalid_argument", `${path} is not JSON`, { cause });
  }
  // parseTopology decodes keys with libsodium, which must be loaded first (it reports "not base64url" otherwise).
  await loadSodium();
  return parseTopology(json, path);
}

export async function writeTopologyFile(path: string, topology: Topology): Promise<void> {
  await loadSodium();
  await writeFile(path, JSON.stringify(topologyToJSON(topology), null, 2) + "\n");
}
