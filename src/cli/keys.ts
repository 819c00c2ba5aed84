/** `concord keys`: create and rotate a region's master key; create every region's keys for a topology. */
import { readdir, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { rotateMasterKey } from "../crypto/keyring.ts";
import { ConcordError } from "../errors.ts";
import { createKeyFile, defaultKeyFile, masterKeyEnv, readKeyFile, resolveMasterKey } from "../runtime/master-key.ts";
import { lockDataDir } from "../runtime/dir-lock.ts";
import { systemRandom } from "../runtime/random.ts";
import { openLmdbStore } from "../storage/lmdb-store.ts";
import { storePath } from "../node.ts";
import { openReplica } from "../replica/replica.ts";
import type { Command } from "./command.ts";
import { defineCommand, requireFlag } from "./command.ts";
import { clearRetired, rekeyDataDir, rekeyPaths, retiredFile } from "./keys-rekey.ts";
import { createProgress } from "./progress.ts";
import { readTopologyFile, writeTopologyFile } from "../server/topology-file.ts";
import { initTopologyKeys } from "../server/topology-keys.ts";

const exists = (path: string) => stat(path).then(() => true, () => false);

const help = `Usage:
  concord keys init   --data DIR [--key-file FILE]
  concord keys init   --topology FILE --data DIR
  concord keys rotate --data DIR [--key-file FILE] [--new-key-file FILE] [--rewrap-only]

init    Creates a random 32-byte master key (mode 0600) and the data directory's
        keyring. The key file defaults to DIR/keys/master.key; in production keep
        it outside the data directory (a secret store, or --key-file elsewhere).
        With --topology, creates for every region of FILE a master key and an
        X25519 region key under DIR/<region>/keys/ (mode 0600; existing keys
        are kept) and writes the public keys into FILE. Only public keys go
        into FILE; point it at your own copy, not a committed template.
rotate  Re-keys the store under a new master key: what a leaked or exposed key
        needs. Every document gets a new data key and every record is sealed
        again, under a new index secret (new storage names), into a fresh store
        file that replaces the old one in one rename; the old file is then
        overwritten with zeros and deleted. Afterwards nothing in DIR opens under
        the old master key or any old data key. Needs the region stopped (it
        takes the data-directory lock) and free space for a second copy of the
        store; shows progress. Interrupted at any point, it finishes when run
        again (until then the region may refuse to start with wrong_key).
        Backups made before it are still under the old keys.
        The new key is written to FILE.new first and moved over FILE when done.
        With $${masterKeyEnv} set, --new-key-file says where to write the new
        key (then put it in place of the old one yourself).
--rewrap-only
        Instead of re-keying: rewraps each document's data key under the new
        master key, in place. Fast (small records only), but the data keys stay
        the same and the old wrapped keys can stay in the file's free pages, so
        whoever has the old master key and a copy of the directory (or of a
        backup) still reads everything. For scheduled rotation of a key that
        was never exposed.

Options:
  --data DIR            the region's data directory (required); with
                        --topology, the parent of one directory per region
  --topology FILE       create keys for every region of this topology
  --key-file FILE       the master key file (default DIR/keys/master.key)
  --new-key-file FILE   where rotate writes the new key (default: replaces --key-file)
  --rewrap-only         rotate by rewrapping the data keys only (see above)
  -h, --help            this help
`;

export const keysCommand: Command = defineCommand({
  name: "keys",
  summary: "create or rotate a region's master key",
  help,
  bareIsUsage: true,
  flags: {
    data: { type: "string" },
    "key-file": { type: "string" },
    "new-key-file": { type: "string" },
    "rewrap-only": { type: "boolean" },
    topology: { type: "string" },
  },
  async run(values, positionals) {
    if (positionals.length === 0) throw new ConcordError("invalid_argument", 'say which: "concord keys init" or "concord keys rotate"');
    const dir = requireFlag(values.data, "--data");
    const action = positionals[0];
    if (action === "init" && values.topology !== undefined) return initTopology(values.topology, dir);
    if (action === "init") return init(dir, values["key-file"] ?? defaultKeyFile(dir));
    if (action === "rotate") return rotate({ dir, keyFileFlag: values["key-file"], newKeyFileFlag: values["new-key-file"], rewrapOnly: values["rewrap-only"] === true });
    throw new ConcordError("invalid_argument", `unknown keys action "${action}" (init or rotate)`);
  },
});

async function init(dir: string, keyFile: string): Promise<number> {
  const lock = await lockDataDir(dir);
  try {
    const masterKey = await createKeyFile(keyFile);
    const replica = await openReplica({ store: await openLmdbStore({ path: storePath(dir) }), masterKey });
    await replica.close();
  } finally {
    await lock.release();
  }
  process.stdout.write(`created master key ${keyFile} (mode 0600) and the keyring in ${storePath(dir)}\n`);
  return 0;
}

async function initTopology(file: string, dir: string): Promise<number> {
  const { topology, created } = await initTopologyKeys(await readTopologyFile(file), dir);
  await writeTopologyFile(file, topology);
  for (const path of created) process.stdout.write(`created ${path} (mode 0600)\n`);
  process.stdout.write(`wrote the public keys of ${topology.regions.map((r) => r.id).join(", ")} into ${file}\n`);
  return 0;
}

interface RotateOptions {
  dir: string;
  keyFileFlag: string | undefined;
  newKeyFileFlag: string | undefined;
  rewrapOnly: boolean;
}

async function rotate(options: RotateOptions): Promise<number> {
  // Rotating under a running region would race its writes: the region must be stopped first.
  const lock = await lockDataDir(options.dir);
  try {
    return await rotateLocked(options);
  } finally {
    await lock.release();
  }
}

async function rotateLocked({ dir, keyFileFlag, newKeyFileFlag, rewrapOnly }: RotateOptions): Promise<number> {
  // As resolveMasterKey reads it: an empty variable is no key.
  const fromEnv = keyFileFlag === undefined && Boolean(process.env[masterKeyEnv]);
  if (fromEnv && !newKeyFileFlag) {
    throw new ConcordError("invalid_argument", `the key comes from $${masterKeyEnv}: say where the new key goes with --new-key-file`);
  }
  const keyFile = keyFileFlag ?? defaultKeyFile(dir);
  const pendingFile = newKeyFileFlag ?? `${keyFile}.new`;
  const resuming = await exists(pendingFile);
  const unfinishedRekey = (await exists(rekeyPaths(dir).fresh)) || (await retiredFile(dir)) !== "none";
  if (rewrapOnly && unfinishedRekey) {
    throw new ConcordError("invalid_argument", `a re-keying rotation of ${dir} was interrupted: finish it with "concord keys rotate --data ${dir}" (without --rewrap-only)`);
  }
  // Killed after the key moved but before the old file was shredded: that finishes it, and nothing more is asked.
  if (!rewrapOnly && !resuming && (await retiredFile(dir)) === "old") {
    const bytes = await clearRetired(dir);
    process.stdout.write(`finished an interrupted rotation: overwrote the old store file (${bytes} bytes) with zeros and deleted it\n`);
    return 0;
  }
  const oldKey = await resolveMasterKey({ keyFile: fromEnv ? undefined : keyFile, dataDir: dir });
  const newKey = resuming ? await readKeyFile(pendingFile) : await createKeyFile(pendingFile);
  if (resuming) process.stderr.write(`resuming an interrupted rotation with the key in ${pendingFile}\n`);
  const moveKey = newKeyFileFlag ? undefined : { from: pendingFile, to: keyFile };
  const summary = rewrapOnly ? await rewrap(dir, oldKey, newKey, moveKey) : await rekey(dir, oldKey, newKey, moveKey);
  const where = moveKey ? `${keyFile} now holds the new key` : `the new key is in ${pendingFile}`;
  process.stdout.write(`rotated (${summary}): ${where}; the old key opens nothing in ${dir}\n`);
  return 0;
}

/** The re-keying rotation (the default); a summary. */
async function rekey(dir: string, oldKey: Uint8Array, newKey: Uint8Array, moveKey: { from: string; to: string } | undefined): Promise<string> {
  const progress = createProgress("re-keying documents");
  const { copied, shreddedBytes } = await rekeyDataDir({
    dataDir: dir, oldKey, newKey, random: systemRandom, ...(moveKey ? { moveKey } : {}),
    onProgress: (done, total) => progress.update(done, total),
  });
  progress.finish(copied
    ? `re-keyed ${copied.documents} documents (${copied.alreadyCopied} by an earlier run) and ${copied.tombstones} tombstones` +
      (copied.tombstonesUnreadable > 0 ? `; ${copied.tombstonesUnreadable} unreadable tombstones left behind` : "")
    : "the store was re-keyed by an earlier run");
  // A damaged store that concord repair set aside is still under the old keys: say so, it is the operator's to delete.
  const setAside = (await readdir(dir)).filter((name) => name.startsWith("store-damaged-"));
  for (const name of setAside) process.stderr.write(`warning: ${join(dir, name)} (kept by concord repair) is still under the old keys: delete it\n`);
  return `re-keyed: new data keys, every record sealed again, the old store file (${shreddedBytes} bytes) overwritten and deleted`;
}

/** The --rewrap-only rotation; a summary. */
async function rewrap(dir: string, oldKey: Uint8Array, newKey: Uint8Array, moveKey: { from: string; to: string } | undefined): Promise<string> {
  const store = await openLmdbStore({ path: storePath(dir) });
  const progress = createProgress("rewrapping data keys");
  let count: number;
  try {
    ({ rewrapped: count } = await rotateMasterKey(store, oldKey, newKey, systemRandom, {
      onProgress: ({ rewrapped, total }) => progress.update(rewrapped, total),
    }));
    progress.finish(`rewrapped ${count} data keys`);
  } finally {
    await store.close();
  }
  if (moveKey) await rename(moveKey.from, moveKey.to);
  return `rewrap only: ${count} data keys rewrapped, the data keys themselves unchanged`;
}
