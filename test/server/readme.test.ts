/**
 * `concord cluster` (what `npm start` runs) on a generated topology: it
 * creates keys and a dev token, waits until every region is ready, and the
 * README's curl examples work against it, write in one region, read in another.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers/replicas.ts";
import { poll, startConcord, stop, writeTopology, type Proc } from "./processes.ts";

const run = promisify(execFile);
let dir: Awaited<ReturnType<typeof tempDir>>;
let cluster: Proc;
let urls: Record<string, string>;
let token: string;
let template: string;

/** The README's curl lines, pointed at this test's ports (7101 = us-east, 7102 = eu-west, 7103 = ap-southeast). */
async function readmeCurls(): Promise<string[]> {
  const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
  const block = /<!-- curl-examples[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(readme);
  expect(block, "README has a curl-examples block").not.toBeNull();
  const ports: Record<string, string> = { "7101": urls["us-east"]!, "7102": urls["eu-west"]!, "7103": urls["ap-southeast"]! };
  return block![1]!.trim().split("\n").map((line) => line.replace(/http:\/\/127\.0\.0\.1:(710[123])/g, (_, port: string) => ports[port]!));
}

beforeAll(async () => {
  dir = await tempDir("concord-cluster-");
  ({ file: template, urls } = await writeTopology(dir.path, ["us-east", "eu-west", "ap-southeast"], "readme"));
  cluster = startConcord(["cluster", template, "--data", join(dir.path, "data")]);
  token = await poll("the cluster banner", async () => {
    if (cluster.child.exitCode !== null) throw new Error(cluster.output());
    return /export TOKEN=(cct_\S+)/.exec(cluster.output())?.[1];
  });
});

afterAll(async () => {
  if (cluster) await stop(cluster);
  await dir?.remove();
});

describe("concord cluster and the README examples", () => {
  it("prints every region's URL and leaves the template topology untouched", async () => {
    for (const url of Object.values(urls)) expect(cluster.output()).toContain(url);
    const original = JSON.parse(await readFile(template, "utf8")) as { regions: Array<{ publicKey: string }> };
    expect(original.regions.every((r) => r.publicKey === "")).toBe(true);
    const filled = JSON.parse(await readFile(join(dir.path, "data", "topology.json"), "utf8")) as { regions: Array<{ publicKey: string }> };
    expect(filled.regions.every((r) => r.publicKey.length === 43)).toBe(true);
  });

  it("runs the README's curl commands: create, PATCH, read in another region, list, delete", async () => {
    const [create, patch, read, list, del] = await readmeCurls();
    const sh = async (line: string) => (await run("bash", ["-c", `${line} -s -w '\\n%{http_code}'`], { env: { ...process.env, TOKEN: token } })).stdout;
    expect(await sh(create!)).toMatch(/\n201$/);
    expect(await sh(patch!)).toMatch(/"replicatedTo":\d[\s\S]*\n200$/);
    const seen = await poll("the write in eu-west", async () => {
      const out = await sh(read!);
      return out.includes("Hi from us-east") ? out : undefined;
    });
    expect(seen).toContain('"title":"Hello"');
    expect(await sh(list!)).toMatch(/"ids":\["notes"\][\s\S]*\n200$/);
    expect(await sh(del!)).toMatch(/\n204$/);
    await poll("the delete in eu-west", async () => ((await sh(read!)).endsWith("\n410") ? true : undefined));
  });

  it("stops every region on SIGTERM", async () => {
    cluster.child.kill("SIGTERM");
    expect(await cluster.exited).toBe(0);
    for (const url of Object.values(urls)) await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
