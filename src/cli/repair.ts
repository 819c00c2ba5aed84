/**
 * `concord repair`: rebuilds a damaged region's store, keeping every intact
 * document, and (given the topology) fetches the rest from its peers.
 */
import { rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { storePath } from "../node.ts";
import { resolveMasterKey } from "../runtime/master-key.ts";
import { systemRandom } from "../runtime/random.ts";
import { lockDataDir } from "../runtime/dir-lock.ts";
import { wallNowMs } from "../runtime/wall-time.ts";
import { markCaughtUp } from "../server/catch-up.ts";
import { restoredMarker, syncDirectory } from "../server/region-backup.ts";
import { startRegion } from "../server/region.ts";
import { readTopologyFile } from "../server/topology-file.ts";
import { salvageLmdbStore } from "../storage/lmdb-salvage.ts";
import { openLmdbStore } from "../storage/lmdb-store.ts";
import { keepIntactDocuments, type RebuildReport } from "../storage/store-rebuild.ts";
import { ConcordError } from "../errors.ts";
import type { Command } from "./command.ts";
import { defineCommand, requireFlag } from "./command.ts";
import { createProgress } from "./progress.ts";

const help = `Usage: concord repair --data DIR [--key-file FILE] [--topology FILE --region ID]

Rebuilds the store of a region whose data file is damaged (the region refuses
to start and names this command), keeping every intact document. Run it with
the region stopped.

1. Salvage: every entry that can still be read is copied out of
   DIR/store/data.mdb into a fresh store, without mapping the damaged file
   (damaged pages are skipped and listed).
2. Check: each document is loaded with every check a read makes (seals, the
   hash chain over its records); one that fails is dropped whole, and so are
   records that belong to no document.
3. Swap: the fresh store replaces DIR/store; the damaged one is kept beside it
   as DIR/store-damaged-<time> (delete it once the region is healthy). The
   region is marked as restored: it reports ready only after one anti-entropy
   round with a peer.
4. With --topology and --region: the region is started once, runs one
   anti-entropy round with each peer (which brings back every dropped or
   missing document they hold), and is stopped. Without them, the region's
   own anti-entropy does the same once you start it with "concord serve".

Documents that only this region held and that were damaged are lost: no
peer has them.

Options:
  --data DIR        the region's data directory (required)
  --key-file FILE   master key file (default DIR/keys/master.key, or $CONCORD_MASTER_KEY)
  --topology FILE   the topology, to fetch from the peers now
  --region ID       this region's id in the topology (with --topology)
  -h, --help        this help

Example:
  concord repair --data data/local/us-east --topology regions/local.json --region us-east
`;

const exists = (path: string) => stat(path).then(() => true, () => false);

function summary(kept: RebuildReport, salvaged: { entries: number; expected: number; damage: string[] }): string {
  const lines = [
    `salvaged ${salvaged.entries} of ${salvaged.expected} entries; ${salvaged.damage.length} damaged page(s) skipped`,
    ...salvaged.damage.slice(0, 10).map((d) => `  ${d}`),
    kept.keyringIntact
      ? `kept ${kept.kept} intact document(s); dropped ${kept.dropped.length} damaged: ${kept.dropped.slice(0, 20).join(", ") || "none"}${kept.dropped.length > 20 ? ", ..." : ""}`
      : "the keyring was unreadable: nothing could be kept; the store starts empty and every document comes back from the peers",
  ];
  return lines.join("\n");
}

/** One anti-entropy round with each peer; how many answered and how many documents came back. */
async function fetchFromPeers(dataDir: string, topologyFile: string, region: string, keyFile: string | undefined): Promise<string> {
  const topology = await readTopologyFile(topologyFile);
  // Only gossip is needed for the rounds: no client token opens this short-lived region, whatever tokens.json says.
  const running = await startRegion({ topology, region, dataDir, server: { tokens: [] }, ...(keyFile ? { keyFile } : {}) });
  const peers = topology.regions.map((r) => r.id).filter((id) => id !== region);
  let answered = 0;
  let fetched = 0;
  const failures: string[] = [];
  try {
    for (const peer of peers) {
      try {
        const report = await running.gossip.antiEntropy(peer);
        answered++;
        fetched += report.repairedHere;
      } catch (error) {
        failures.push(`${peer}: ${(error as Error).message}`);
      }
    }
    if (answered > 0) await markCaughtUp(dataDir);
  } finally {
    await running.stop();
  }
  return `anti-entropy with ${answered} of ${peers.length} peer(s) brought ${fetched} document(s) back` +
    (failures.length > 0 ? `\n  unreachable: ${failures.join("; ")}` : "");
}

export const repairCommand: Command = defineCommand({
  name: "repair",
  summary: "rebuild a damaged region's store from what is intact, and its peers",
  help,
  bareIsUsage: true,
  flags: {
    data: { type: "string" },
    "key-file": { type: "string" },
    topology: { type: "string" },
    region: { type: "string" },
  },
  async run(values) {
    const dataDir = requireFlag(values.data, "--data");
    if ((values.topology === undefined) !== (values.region === undefined)) {
      throw new ConcordError("invalid_argument", "--topology and --region go together");
    }
    // A running region (or another repair) holds the directory: refuse, naming it, before touching anything.
    const lock = await lockDataDir(dataDir);
    let report: string;
    try {
      report = await rebuild(dataDir, values["key-file"]);
    } finally {
      await lock.release();
    }
    process.stdout.write(report);
    if (values.topology !== undefined && values.region !== undefined) {
      process.stdout.write(`${await fetchFromPeers(dataDir, values.topology, values.region, values["key-file"])}\n`);
    } else {
      process.stdout.write("start the region (\"concord serve\"): anti-entropy brings the dropped documents back from its peers\n");
    }
    return 0;
  },
});

/** Salvage, check and swap (steps 1-3 of the help); returns the summary. */
async function rebuild(dataDir: string, keyFile: string | undefined): Promise<string> {
  const masterKey = await resolveMasterKey({ keyFile, dataDir });
  const storeDir = storePath(dataDir);
  const fresh = `${storeDir}-repairing`;
  await rm(fresh, { recursive: true, force: true });
  const into = await openLmdbStore({ path: fresh });
  let salvaged;
  let kept;
  try {
    const salvage = createProgress("repair: salvage");
    salvaged = await salvageLmdbStore(storeDir, into, (done, total) => salvage.update(done, total));
    salvage.finish();
    const check = createProgress("repair: check documents");
    kept = await keepIntactDocuments(into, masterKey, systemRandom, (done, total) => check.update(done, total));
    check.finish();
  } finally {
    await into.close();
  }
  if (await exists(storeDir)) await rename(storeDir, `${storeDir}-damaged-${new Date(wallNowMs()).toISOString().replace(/[:.]/g, "-")}`);
  await rename(fresh, storeDir);
  await writeFile(restoredMarker(dataDir), "repaired: not ready until one anti-entropy round with a peer\n");
  await syncDirectory(dirname(storeDir));
  return `${summary(kept, salvaged)}\nrebuilt store in ${storeDir}\n`;
}
