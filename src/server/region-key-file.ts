/**
 * A region's X25519 secret key on disk (DIR/keys/region.key, 64 hex
 * characters, mode 0600). Its public half goes into the topology; the secret
 * never leaves the region.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ConcordError } from "../errors.ts";
import { generateRegionKeyPair, regionPublicKey, type RegionKeyPair } from "../gossip/region-keys.ts";
import { loadSodium } from "../crypto/sodium.ts";
import { systemRandom } from "../runtime/random.ts";

/** Where a data directory keeps its region key. */
export function regionKeyFile(dataDir: string): string {
  return join(dataDir, "keys", "region.key");
}

/** Creates a new key pair file; refuses to overwrite one (that would cut the region off its peers). */
export async function createRegionKeyFile(path: string): Promise<RegionKeyPair> {
  // Generating needs libsodium; a caller that finds every key already there may not have loaded it yet.
  await loadSodium();
  const pair = generateRegionKeyPair(systemRandom);
  await writeRegionKeyFile(path, pair.secretKey);
  return pair;
}

/** Writes a given secret key (a restore puts a region's own key back); refuses to overwrite one. */
export async function writeRegionKeyFile(path: string, secretKey: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  try {
    await writeFile(path, Buffer.from(secretKey).toString("hex") + "\n", { mode: 0o600, flag: "wx" });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "EEXIST") throw new ConcordError("exists", `the region key ${path} already exists; it was not changed`);
    throw cause;
  }
}

export async function readRegionKeyFile(path: string): Promise<RegionKeyPair> {
  let text: string;
  try {
    text = (await readFile(path, "utf8")).trim();
  } catch (cause) {
    throw new ConcordError("key_missing", `cannot read the region key ${path} (create it with "concord keys init --topology FILE --data DIR")`, { cause });
  }
  if (!/^[0-9a-f]{64}$/i.test(text)) throw new ConcordError("invalid_argument", `${path} does not hold a region key (64 hex characters)`);
  const secretKey = Uint8Array.from(Buffer.from(text, "hex"));
  return { secretKey, publicKey: regionPublicKey(secretKey) };
}
