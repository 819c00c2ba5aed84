/** `concord keys`: create and rotate a region's master key; create every region's keys for a topology. */
import { rename, stat } from "node:fs/promises";
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
import { createProgress } from "./progress.ts";
import { readTopologyFile, writeTopologyFile } from "../server/topology-file.ts";
import { initTopologyKeys } from "../server/topology-keys.ts";

const help = `Usage:
  concord keys init   --data DIR [--key-file FILE]
  concord keys init   --topology FILE --data DIR
  concord keys rotate --data DIR [--key-file FILE] [--new-key-file FILE]

init    Creates a random 32-byte master key (mode 0600) and the data directory's
        keyring. The key file defaults to DIR/keys/master.key; in production keep
        it outside the data directory (a secret store, or --key-file elsewhere).
        With --topology, creates for every region of FILE a master key and an
        X25519 region key under DIR/<region>/keys/ (mode 0600; existing keys
        are kept) and writes the public keys into FILE. Only public keys go
        into FILE; point it at your own copy, not a committed template.
rotate  Rewraps every document's data key under a new master key. Documents stay
        readable with the new key; the old key opens nothing afterwards. The new
        key is written to FILE.new first and moved over FILE when done, so an
        interrupted rotation resumes when run again. With $${masterKeyEnv} set,
        --new-key-file says where to write the new key.

Options:
  --data DIR            the region's data directory (required); with
                        --topology, the parent of one directory per region
  --topology FILE       create keys for every region of this topology
  --key-file FILE       the master key file (default DIR/keys/master.key)
  --new-key-file FILE   where rotate writes the new key (default: replaces --key-file)
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
    topology: { type: "string" },
  },
  async run(values, positionals) {
    if (positionals.length === 0) throw new ConcordError("invalid_argument", 'say which: "concord keys init" or "concord keys rotate"');
    const dir = requireFlag(values.data, "--data");
    const action = positionals[0];
    if (action === "init" && values.topology !== undefined) return initTopology(values.topology, dir);
    if (action === "init") return init(dir, values["key-file"] ?? defaultKeyFile(dir));
    if (action === "rotate") return rotate(dir, values["key-file"], values["new-key-file"]);
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

async function rotate(dir: string, keyFileFlag: string | undefined, newKeyFileFlag: string | undefined): Promise<number> {
  // Rewrapping under a running region would race its writes: the region must be stopped first.
  const lock = await lockDataDir(dir);
  try {
    return await rotateLocked(dir, keyFileFlag, newKeyFileFlag);
  } finally {
    await lock.release();
  }
}

async function rotateLocked(dir: string, keyFileFlag: string | undefined, newKeyFileFlag: string | undefined): Promise<number> {
  const fromEnv = keyFileFlag === undefined && process.env[masterKeyEnv] !== undefined;
  if (fromEnv && !newKeyFileFlag) {
    throw new ConcordError("invalid_argument", `the key comes from $${masterKeyEnv}: say where the new key goes with --new-key-file`);
  }
  const keyFile = keyFileFlag ?? defaultKeyFile(dir);
  const oldKey = await resolveMasterKey({ keyFile: fromEnv ? undefined : keyFile, dataDir: dir });
  const pendingFile = newKeyFileFlag ?? `${keyFile}.new`;
  const resuming = await stat(pendingFile).then(() => true, () => false);
  const newKey = resuming ? await readKeyFile(pendingFile) : await createKeyFile(pendingFile);
  if (resuming) process.stderr.write(`resuming an interrupted rotation with the key in ${pendingFile}\n`);

  const store = await openLmdbStore({ path: storePath(dir) });
  const progress = createProgress("rewrapping data keys");
  try {
    const { rewrapped } = await rotateMasterKey(store, oldKey, newKey, systemRandom, {
      onProgress: ({ rewrapped, total }) => progress.update(rewrapped, total),
    });
    progress.finish(`rewrapped ${rewrapped} data keys`);
  } finally {
    await store.close();
  }
  if (!newKeyFileFlag) {
    await rename(pendingFile, keyFile);
    process.stdout.write(`rotated: ${keyFile} now holds the new key; the old key opens nothing\n`);
  } else {
    process.stdout.write(`rotated: the new key is in ${pendingFile}; the old key opens nothing\n`);
  }
  return 0;
}
