/**
 * Concord installed the way a consumer installs it: `npm pack` of this
 * working tree (which runs `prepare`, so dist/ is built fresh), then a scratch
 * app in a temp dir that `npm install`s the tarball. npm is asked to work
 * offline first (the npm cache holds what `npm ci` fetched for Concord
 * itself), then to prefer the cache; only what the cache lacks comes from the
 * registry. A machine without that registry makes `unavailable` say so, and
 * the tests skip with that reason — except in CI (`CI` set), where they fail.
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
export const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (never throws for a non-zero exit), with npm's own npm_* variables removed. */
export function run(command: string, args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("npm_")));
  return new Promise((resolve) => {
    execFile(command, args, { cwd: options.cwd, env: { ...env, ...options.env }, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Tarball {
  path: string;
  files: string[];
  /** Packed (gzip) and unpacked sizes in bytes. */
  bytes: number;
  unpackedBytes: number;
}

/** `npm pack` of the working tree into `dest` (builds dist/ through `prepare`). */
export async function packConcord(dest: string): Promise<Tarball> {
  const packed = await run("npm", ["pack", "--json", "--pack-destination", dest], { cwd: repoRoot });
  if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.stdout}\n${packed.stderr}`);
  // prepare's build output may come first on stdout; the JSON report starts on a line of its own.
  const report = JSON.parse(packed.stdout.slice(Math.max(0, packed.stdout.search(/^\[$/m)))) as Array<{
    filename: string; size: number; unpackedSize: number; files: Array<{ path: string }>;
  }>;
  const [info] = report;
  if (!info) throw new Error(`npm pack printed no report:\n${packed.stdout}`);
  return { path: join(dest, info.filename), files: info.files.map((f) => f.path), bytes: info.size, unpackedBytes: info.unpackedSize };
}

/** Network failures (as opposed to a broken package): the only reason to skip. */
const offlineCodes = /\b(ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH)\b/;

export interface ScratchApp {
  dir: string;
  /** Why npm could not install (no registry, nothing cached), when it could not. */
  unavailable?: string;
  /** The npm command lines that installed it, for failure messages. */
  log: string[];
  remove(): Promise<void>;
}

/**
 * A fresh app (`"type": "module"`, no overrides, no lock) holding the tarball
 * and `dependencies` (name → version range) from the npm cache, or the registry
 * for what the cache lacks.
 */
export async function installScratchApp(tarball: string, dependencies: Record<string, string>): Promise<ScratchApp> {
  const dir = await mkdtemp(join(tmpdir(), "concord-consumer-"));
  const app: ScratchApp = { dir, log: [], remove: () => rm(dir, { recursive: true, force: true }) };
  await writeFile(join(dir, "package.json"), `${JSON.stringify({ name: "concord-consumer", private: true, type: "module" }, null, 2)}\n`);
  const specs = [tarball, ...Object.entries(dependencies).map(([name, range]) => `${name}@${range}`)];
  let last: Run | undefined;
  for (const mode of ["--offline", "--prefer-offline"]) {
    last = await npm(app, ["install", mode, ...specs]);
    if (last.code === 0) return app;
    if (!offlineCodes.test(last.stderr)) break;
  }
  if (last && offlineCodes.test(last.stderr)) {
    app.unavailable = `npm could not fetch what its cache lacks (${offlineCodes.exec(last.stderr)![1]}): this test needs the npm cache that \`npm ci\` filled, or the registry`;
    return app;
  }
  throw new Error(`npm install of the tarball failed:\n${app.log.join("\n")}\n${last?.stdout}\n${last?.stderr}`);
}

/** Runs npm in the app, recording the command line. */
export async function npm(app: ScratchApp, args: string[]): Promise<Run> {
  app.log.push(`npm ${args.join(" ")}`);
  return run("npm", ["--no-audit", "--no-fund", ...args], { cwd: app.dir });
}

/** Copies a fixture (test/package/fixtures/NAME) into the app. */
export async function addFixture(app: ScratchApp, name: string, as = name): Promise<string> {
  const target = join(app.dir, as);
  await mkdir(join(target, ".."), { recursive: true });
  await writeFile(target, await readFile(join(fixtures, name)));
  return target;
}

/** In CI a missing prerequisite fails the test; elsewhere it skips, saying why. */
export const inCi = process.env.CI !== undefined && process.env.CI !== "" && process.env.CI !== "false";
