/**
 * Keys for every region of a topology, on one machine (a local cluster, or
 * preparing data directories to ship): DIR/<region>/keys/master.key and
 * DIR/<region>/keys/region.key (mode 0600), created when absent and reused
 * when present. Returns the topology with every public key filled in; secret
 * keys never leave the data directories.
 */
import { join } from "node:path";
import { isConcordError } from "../errors.ts";
import { parseTopology, topologyToJSON, type Topology } from "../gossip/topology.ts";
import { openReplica } from "../node.ts";
import { createKeyFile, defaultKeyFile } from "../runtime/master-key.ts";
import { createRegionKeyFile, readRegionKeyFile, regionKeyFile } from "./region-key-file.ts";

export interface TopologyKeys {
  topology: Topology;
  /** Human-readable notes of what was created (empty when everything existed). */
  created: string[];
}

/** The data directory of `region` under a cluster's data directory. */
export function regionDataDir(dataDir: string, region: string): string {
  return join(dataDir, region);
}

export async function initTopologyKeys(topology: Topology, dataDir: string): Promise<TopologyKeys> {
  const created: string[] = [];
  const regions = [];
  for (const spec of topology.regions) {
    const dir = regionDataDir(dataDir, spec.id);
    const masterFile = defaultKeyFile(dir);
    try {
      await createKeyFile(masterFile);
      // Opening the replica once creates the keyring, so a wrong key later fails loudly.
      await (await openReplica({ dir, region: spec.id })).close();
      created.push(masterFile);
    } catch (error) {
      if (!isConcordError(error, "exists")) throw error;
    }
    const keyFile = regionKeyFile(dir);
    let pair;
    try {
      pair = await createRegionKeyFile(keyFile);
      created.push(keyFile);
    } catch (error) {
      if (!isConcordError(error, "exists")) throw error;
      pair = await readRegionKeyFile(keyFile);
    }
    regions.push({ ...spec, publicKey: pair.publicKey });
  }
  // Round-trip through JSON so region() and everything else see the filled-in keys.
  return { topology: parseTopology(topologyToJSON({ ...topology, regions }), topology.name), created };
}
