/**
 * `concord backup`: a sealed, checksummed archive of one region, from the
 * running region over HTTP or from a data directory on this machine. The
 * archive is checked as it is written (structure and checksum; the mac too
 * when the master key is at hand) and lands under its name only when whole.
 */
import { link, open, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { loadSodium } from "../crypto/sodium.ts";
import { ConcordError, isConcordError } from "../errors.ts";
import { storePath } from "../node.ts";
import { resolveMasterKey } from "../runtime/master-key.ts";
import { systemRandom } from "../runtime/random.ts";
import { wallNowMs } from "../runtime/wall-time.ts";
import { type BackupHeader } from "../storage/backup-archive.ts";
import { readBackup } from "../storage/backup-reader.ts";
import { createBackup } from "../storage/backup-writer.ts";
import { openLmdbStore } from "../storage/lmdb-store.ts";
import { openPostgresStore } from "../storage/postgres-store.ts";
import { parseStoreUrl } from "../server/store-url.ts";
import { syncDirectory } from "../server/region-backup.ts";
import { readRegionKeyFile, regionKeyFile } from "../server/region-key-file.ts";
import { readTopologyFile } from "../server/topology-file.ts";
import type { Command } from "./command.ts";
import { defineCommand, requireFlag } from "./command.ts";
import { createProgress } from "./progress.ts";

const help = `Usage:
  concord backup --region ID --out FILE [--topology FILE] [--url URL] [--token TOKEN]
  concord backup --data DIR --out FILE [--region ID] [--key-file FILE] [--store postgres://…]

Writes a backup archive of one region: a consistent snapshot of its store,
taken at one moment while the region keeps serving. The archive holds only
what the store holds — keyed hashes and sealed records, no plaintext — plus
the region's X25519 key sealed under the master key, and ends with a checksum
and a mac keyed from the master key. It opens only with the master key in use
when it was made: keep that key (after "concord keys rotate", keep the old one
as long as you keep backups made under it).

From a running region (--region): asks it for the archive (GET
/v1/admin/backup) with a token that has the "admin" scope, from --token,
$CONCORD_TOKEN or $TOKEN (what "npm start" prints). The region's URL comes
from --url or the topology (default regions/local.json).

From a data directory (--data): reads DIR/store directly with the master key
(--key-file, $CONCORD_MASTER_KEY or DIR/keys/master.key). It works while the
region runs too (LMDB readers never block its writer).

The archive is written to FILE.partial, checked as it streams, fsynced, and
only then put in place as FILE; FILE must not exist. A damaged or cut stream
(the region stopped, the network broke) leaves no FILE. Restore it with "concord restore".

Options:
  --out FILE         where to write the archive (required)
  --region ID        the region to back up (required without --data)
  --topology FILE    where to find the region's URL (default regions/local.json)
  --url URL          the region's URL, instead of the topology's
  --token TOKEN      an admin token (default $CONCORD_TOKEN, then $TOKEN)
  --data DIR         back up this data directory instead of asking a server
  --key-file FILE    master key for --data (default DIR/keys/master.key)
  --store URL        with --data: the region's PostgreSQL store (schema from
                     ?schema=NAME, else concord_<region>); read in one
                     REPEATABLE READ transaction while the region runs
  -h, --help         this help

Example:
  concord backup --region us-east --out us-east.ccbackup
`;

export const backupCommand: Command = defineCommand({
  name: "backup",
  summary: "write a sealed, checksummed backup archive of a region",
  help,
  bareIsUsage: true,
  flags: {
    out: { type: "string" },
    region: { type: "string" },
    topology: { type: "string" },
    url: { type: "string" },
    token: { type: "string" },
    data: { type: "string" },
    "key-file": { type: "string" },
    store: { type: "string" },
  },
  async run(values) {
    const out = resolve(requireFlag(values.out, "--out"));
    if (await stat(out).then(() => true, () => false)) throw new ConcordError("exists", `${out} already exists; choose another --out`);
    const started = wallNowMs();
    const source = values.data !== undefined ? await fromDataDir(values.data, values.region, values["key-file"], values.store) : await fromServer(values);
    const header = await writeChecked(source.chunks, out, source.masterKey).catch((error: unknown) => {
      // A stream cut by the server (it stopped, or dropped an idle stream) reads as a truncated archive.
      if (values.data === undefined && isConcordError(error, "corrupt_record") && /truncated/.test(error.message)) {
        throw new ConcordError("unavailable", `${error.message}: the region stopped or the connection broke mid-backup; nothing was written to ${out}`, { cause: error });
      }
      throw error;
    });
    const size = (await stat(out)).size;
    process.stdout.write(
      `wrote ${out}: region ${header.region}, ${header.entries} entries, ${formatBytes(size)}, ` +
        `snapshot of ${new Date(header.createdAt).toISOString()}, in ${((wallNowMs() - started) / 1000).toFixed(1)} s\n`,
    );
    return 0;
  },
});

interface ArchiveSource {
  chunks: AsyncIterable<Uint8Array>;
  /** Known for --data: the mac is checked as well as the checksum. */
  masterKey?: Uint8Array;
}

async function fromServer(values: { region?: string | undefined; topology?: string | undefined; url?: string | undefined; token?: string | undefined }): Promise<ArchiveSource> {
  const region = requireFlag(values.region, "--region (or --data)");
  const url = values.url ?? (await readTopologyFile(values.topology ?? join("regions", "local.json"))).region(region).url;
  const token = values.token ?? process.env["CONCORD_TOKEN"] ?? process.env["TOKEN"];
  let response: Response;
  try {
    response = await fetch(`${url.replace(/\/+$/, "")}/v1/admin/backup`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  } catch (cause) {
    throw new ConcordError("unavailable", `cannot reach region ${region} at ${url}: ${(cause as Error).message}`, { cause });
  }
  if (!response.ok || !response.body) {
    const body = (await response.json().catch(() => undefined)) as { error?: { code?: string; message?: string } } | undefined;
    const detail = body?.error?.message ?? response.statusText;
    const hint = response.status === 401 ? " (pass --token or set $CONCORD_TOKEN)" : response.status === 403 ? ' (the token needs the "admin" scope)' : "";
    throw new ConcordError(response.status === 401 ? "unauthorized" : response.status === 403 ? "forbidden" : "unavailable", `region ${region} refused the backup: ${response.status} ${detail}${hint}`);
  }
  // Node 20 web streams are async iterable; the DOM typings do not say so.
  return { chunks: response.body as unknown as AsyncIterable<Uint8Array> };
}

async function fromDataDir(dataDir: string, region: string | undefined, keyFile: string | undefined, storeUrl: string | undefined): Promise<ArchiveSource> {
  const path = storePath(dataDir);
  const regionId = region ?? basename(resolve(dataDir));
  if (storeUrl === undefined && !(await stat(path).then((s) => s.isDirectory(), () => false))) throw new ConcordError("not_found", `${path} does not exist: is ${dataDir} a region's data directory?`);
  const masterKey = await resolveMasterKey({ keyFile, dataDir });
  await loadSodium();
  // A data directory made by "keys init --data" alone has no region key; any other failure is real.
  const regionKey = await readRegionKeyFile(regionKeyFile(dataDir)).catch((error: unknown) => {
    if (isConcordError(error, "key_missing")) return undefined;
    throw error;
  });
  const store = storeUrl === undefined ? await openLmdbStore({ path }) : await openPostgresStore(parseStoreUrl(storeUrl, regionId));
  try {
    const { chunks } = await createBackup({
      snapshot: await store.snapshot(),
      masterKey,
      region: regionId,
      createdAt: wallNowMs(),
      random: systemRandom,
      ...(regionKey ? { regionSecretKey: regionKey.secretKey } : {}),
    });
    return { masterKey, chunks: closingAfter(chunks, () => store.close()) };
  } catch (error) {
    await store.close();
    throw error;
  }
}

async function* closingAfter(chunks: AsyncIterable<Uint8Array>, close: () => Promise<void>): AsyncGenerator<Uint8Array> {
  try {
    yield* chunks;
  } finally {
    await close();
  }
}

/** Streams `chunks` to FILE.partial while checking them; fsyncs and renames it to FILE when whole. */
async function writeChecked(chunks: AsyncIterable<Uint8Array>, out: string, masterKey: Uint8Array | undefined): Promise<BackupHeader> {
  const partial = `${out}.partial`;
  const file = await open(partial, "w", 0o600);
  const progress = createProgress("backup");
  async function* teeToFile(): AsyncGenerator<Uint8Array> {
    for await (const chunk of chunks) {
      await file.writeFile(chunk);
      yield chunk;
    }
  }
  try {
    let header: BackupHeader | undefined;
    let done = 0;
    for await (const event of readBackup(teeToFile(), masterKey ? { masterKey } : {})) {
      if (event.type === "header") header = event.header;
      if (event.type === "entries") {
        done += event.entries.length;
        progress.update(done, header!.entries);
      }
    }
    await file.sync();
    await file.close();
    progress.finish();
    // link, not rename: it refuses to replace a FILE that appeared meanwhile.
    await link(partial, out).catch((cause: NodeJS.ErrnoException) => {
      throw cause.code === "EEXIST" ? new ConcordError("exists", `${out} appeared while the backup ran; the archive is left at ${partial}`) : cause;
    });
    await rm(partial, { force: true });
    await syncDirectory(dirname(out));
    return header!;
  } catch (error) {
    await file.close().catch(() => {});
    progress.finish();
    if (!isConcordError(error, "exists")) await rm(partial, { force: true });
    throw error;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}
