/** `concord restore`: rebuild a region's data directory from a backup archive, or check an archive. */
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { ConcordError } from "../errors.ts";
import { readKeyFile, resolveMasterKey } from "../runtime/master-key.ts";
import { systemRandom } from "../runtime/random.ts";
import { readBackup } from "../storage/backup-reader.ts";
import { restoreRegion } from "../server/region-backup.ts";
import { parseStoreUrl } from "../server/store-url.ts";
import { formatBytes } from "./backup.ts";
import type { Command } from "./command.ts";
import { defineCommand, requireFlag } from "./command.ts";
import { createProgress } from "./progress.ts";

const help = `Usage:
  concord restore --in FILE --data DIR [--key-file FILE]
  concord restore --in FILE --data DIR --store postgres://… --region ID [--key-file FILE]
  concord restore --in FILE --verify [--key-file FILE]

Restores a backup archive ("concord backup") into DIR: the store (DIR/store)
and the region's X25519 key (DIR/keys/region.key). DIR must be empty or
missing; it may already hold keys/master.key. The master key must be the one
the backup was made under: --key-file, else $CONCORD_MASTER_KEY, else
DIR/keys/master.key. The archive's checksum, mac and keyring are checked
before anything is moved into place: a damaged archive or a wrong key leaves
DIR as it was.

Then start the region as before ("concord serve --data DIR ..."), with its
tokens.json copied back. It rejoins its peers and converges: anti-entropy
brings back every write they hold that the backup lacks, deletes included.
It reports ready (/readyz) only after its first anti-entropy round with a
peer, so it never serves a document deleted after the backup was made.
Writes acknowledged only by this region after the backup, and never
replicated, are lost.

With --store, the documents go into that PostgreSQL store instead (schema
from ?schema=NAME, else concord_<--region>), which must be empty; DIR gets
the region key and markers only. This is how a region moves from LMDB to
PostgreSQL: stop it, "concord backup --data OLD --out FILE", restore with
--store into a new data directory holding keys/master.key, and start it with
"concord serve --store URL --data NEW". An interrupted restore into
PostgreSQL leaves DIR/.restore-postgres-partial: the region refuses to start
until the restore is run again.

--verify checks an archive without restoring it: structure and checksum, and
with a master key also the mac and the region key.

Options:
  --in FILE        the archive (required)
  --data DIR       the data directory to restore into
  --verify         only check the archive
  --key-file FILE  the master key file
  --store URL      restore into this PostgreSQL store (postgres://…)
  --region ID      the region, for --store's default schema
  -h, --help       this help

Example:
  mkdir -p data/local/us-east/keys && cp saved-master.key data/local/us-east/keys/master.key
  concord restore --in us-east.ccbackup --data data/local/us-east
`;

export const restoreCommand: Command = defineCommand({
  name: "restore",
  summary: "restore a backup archive into an empty data directory, or verify one",
  help,
  bareIsUsage: true,
  flags: {
    in: { type: "string" },
    data: { type: "string" },
    verify: { type: "boolean" },
    "key-file": { type: "string" },
    store: { type: "string" },
    region: { type: "string" },
  },
  async run(values) {
    const input = requireFlag(values.in, "--in");
    const info = await stat(input).catch((cause: Error) => {
      throw new ConcordError("not_found", `cannot read the archive ${input}: ${cause.message}`, { cause });
    });
    if (values.verify) return verify(input, values["key-file"]);
    const dataDir = requireFlag(values.data, "--data (or --verify)");
    const postgres = values.store === undefined ? undefined : postgresTarget(values.store, values.region);
    const masterKey = await resolveMasterKey({ keyFile: values["key-file"], dataDir });
    const progress = createProgress("restore");
    try {
      const { header, regionKeyRestored } = await restoreRegion({
        archive: createReadStream(input),
        dataDir,
        masterKey,
        random: systemRandom,
        ...(postgres ? { postgres } : {}),
        onProgress: (done, total) => progress.update(done, total),
      });
      progress.finish(
        `restored ${header.entries} entries (${formatBytes(info.size)}) of region ${header.region}, ` +
          `snapshot of ${new Date(header.createdAt).toISOString()}, into ${dataDir}` +
          (regionKeyRestored ? "; its region key is in keys/region.key" : "; the archive had no region key: create one and update the topology"),
      );
    } catch (error) {
      progress.finish();
      throw error;
    }
    return 0;
  },
});

/** The PostgreSQL store to restore into: the schema from the URL, else the --region's default. */
function postgresTarget(store: string, region: string | undefined) {
  const hasSchema = URL.canParse(store) && new URL(store).searchParams.has("schema");
  if (!hasSchema && region === undefined) throw new ConcordError("invalid_argument", "--store needs --region ID (for the default schema concord_<region>) or ?schema=NAME in the URL");
  return parseStoreUrl(store, region ?? "");
}

async function verify(input: string, keyFile: string | undefined): Promise<number> {
  const masterKey = keyFile !== undefined ? await readKeyFile(keyFile) : undefined;
  const progress = createProgress("verify");
  let total = 0;
  let done = 0;
  let region = "";
  try {
    for await (const event of readBackup(createReadStream(input), masterKey ? { masterKey } : {})) {
      if (event.type === "header") ({ entries: total, region } = event.header);
      if (event.type === "entries") progress.update((done += event.entries.length), total);
    }
  } finally {
    progress.finish();
  }
  process.stdout.write(`${input}: whole, ${done} entries of region ${region}; ${masterKey ? "mac and region key check out with this key" : "checksum only (pass --key-file to check the mac)"}\n`);
  return 0;
}
