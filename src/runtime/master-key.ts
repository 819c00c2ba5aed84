/**
 * Where a region's master key comes from, in Node: an explicit key, a key
 * file, or the CONCORD_MASTER_KEY environment variable. A key file holds the
 * 32 bytes as 64 hex characters and is created with mode 0600.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ConcordError } from "../errors.ts";

export const masterKeyEnv = "CONCORD_MASTER_KEY";

/** The default key file of a data directory. Keep production keys elsewhere (a secret store or KMS). */
export function defaultKeyFile(dataDir: string): string {
  return join(dataDir, "keys", "master.key");
}

/** Parses 64 hex characters or standard/url-safe base64 of 32 bytes. */
export function parseMasterKey(text: string, source: string): Uint8Array {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Uint8Array.from(Buffer.from(trimmed, "hex"));
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed.replace(/-/g, "+").replace(/_/g, "/"), "base64");
    if (bytes.length === 32) return Uint8Array.from(bytes);
  }
  throw new ConcordError("invalid_argument", `${source} does not hold a master key (64 hex characters or base64 of 32 bytes)`);
}

export async function readKeyFile(path: string): Promise<Uint8Array> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new ConcordError("key_missing", `cannot read the master key file ${path}`, { cause });
  }
  return parseMasterKey(text, `the key file ${path}`);
}

/** Writes a new random key file (mode 0600). Refuses to overwrite one. */
export async function createKeyFile(path: string): Promise<Uint8Array> {
  if (await stat(path).then(() => true, () => false)) {
    throw new ConcordError("exists", `the key file ${path} already exists; it was not changed`);
  }
  const key = new Uint8Array(randomBytes(32));
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, Buffer.from(key).toString("hex") + "\n", { mode: 0o600, flag: "wx" });
  return key;
}

/**
 * Resolves the key: explicit bytes, then `keyFile`, then the environment,
 * then the data directory's default key file.
 */
export async function resolveMasterKey(options: {
  masterKey?: Uint8Array | undefined;
  keyFile?: string | undefined;
  dataDir?: string | undefined;
}): Promise<Uint8Array> {
  if (options.masterKey) return options.masterKey;
  if (options.keyFile) return readKeyFile(options.keyFile);
  const fromEnv = process.env[masterKeyEnv];
  if (fromEnv) return parseMasterKey(fromEnv, `$${masterKeyEnv}`);
  if (options.dataDir) {
    const path = defaultKeyFile(options.dataDir);
    if (await stat(path).then(() => true, () => false)) return readKeyFile(path);
    throw new ConcordError(
      "key_missing",
      `no master key: pass one, set $${masterKeyEnv}, or create ${path} with "concord keys init --data ${options.dataDir}"`,
    );
  }
  throw new ConcordError("key_missing", `no master key: pass one or set $${masterKeyEnv}`);
}
