/**
 * Origin checks on socket upgrades: a browser page from an origin the region
 * neither serves nor allows gets 403 on /v1/sync, /v1/yjs and /v1/automerge,
 * before any token is looked at; clients without an Origin (not browsers),
 * same-origin pages and allowed origins get their socket. Also through a real
 * `concord serve --allow-origins`.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { hashToken } from "../../src/server/auth.ts";
import { startRegion, type RunningRegion } from "../../src/server/region.ts";
import { normalizeOrigin, parseOriginList } from "../../src/server/socket-origin.ts";
import { readTopologyFile } from "../../src/server/topology-file.ts";
import { initTopologyKeys } from "../../src/server/topology-keys.ts";
import { isConcordError } from "../../src/errors.ts";
import { tempDir } from "../helpers/replicas.ts";
import { startTokenCluster, type TokenCluster } from "../client/token-cluster.ts";
import { poll, writeTopology } from "./processes.ts";

const token = "tok-origin-0123456789";
const paths = ["/v1/sync", "/v1/yjs/origin-doc", "/v1/automerge"];

/** Opens a socket with `origin` (none when undefined): "open", or the HTTP status of a refused handshake. */
function attempt(base: string, path: string, origin: string | undefined): Promise<"open" | number> {
  const ws = new WebSocket(`${base.replace("http", "ws")}${path}?token=${token}`, origin === undefined ? {} : { origin });
  return new Promise((resolve, reject) => {
    ws.once("open", () => {
      ws.close();
      resolve("open");
    });
    ws.once("unexpected-response", (_request, response) => {
      resolve(response.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

describe("origin checks on socket upgrades", () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let region: RunningRegion;
  beforeAll(async () => {
    dir = await tempDir("concord-origin-");
    const { file } = await writeTopology(dir.path, ["solo"]);
    const { topology } = await initTopologyKeys(await readTopologyFile(file), dir.path);
    region = await startRegion({
      topology, region: "solo", dataDir: join(dir.path, "solo"), port: 0,
      server: { tokens: [{ name: "full", sha256: hashToken(token), scopes: ["read", "write"] }] },
      sockets: { upgrades: { allowedOrigins: ["https://app.example", "http://localhost:5173"] } },
    });
  }, 120_000);
  afterAll(async () => {
    await region?.stop();
    await dir?.remove();
  });

  for (const path of paths) {
    it(`refuses a page from another origin with 403 on ${path}, and takes the others`, async () => {
      expect(await attempt(region.url, path, "https://evil.example")).toBe(403);
      expect(await attempt(region.url, path, "http://localhost:5174")).toBe(403); // same host, other port: another origin
      expect(await attempt(region.url, path, "null")).toBe(403); // a sandboxed page or a file:
      expect(await attempt(region.url, path, undefined)).toBe("open"); // not a browser
      expect(await attempt(region.url, path, region.url)).toBe("open"); // a page this region serves
      expect(await attempt(region.url, path, "https://app.example")).toBe("open");
      expect(await attempt(region.url, path, "http://localhost:5173")).toBe("open");
    });
  }

  it("counts refused handshakes, and leaves no socket open for them", async () => {
    await poll("earlier sockets to close", async () => (region.sockets.open === 0 ? true : undefined));
    expect(await attempt(region.url, "/v1/sync", "https://evil.example")).toBe(403);
    expect(region.sockets.open).toBe(0);
    const metrics = await (await region.app.request("/metrics", { headers: { authorization: `Bearer ${token}` } })).text();
    expect(metrics).toMatch(/concord_socket_rejected_total\{protocol="sync",reason="origin"[^}]*\} [1-9]/);
  });

  it("parses an allow-list and refuses a malformed entry", () => {
    expect(parseOriginList(" https://App.example:443 , http://localhost:5173,*")).toEqual(["https://app.example", "http://localhost:5173", "*"]);
    for (const bad of ["app.example", "https://app.example/path", "file:///x"]) {
      let error: unknown;
      try {
        normalizeOrigin(bad);
      } catch (e) {
        error = e;
      }
      expect(isConcordError(error, "invalid_argument"), bad).toBe(true);
    }
  });
});

describe("concord serve --allow-origins", () => {
  let cluster: TokenCluster;
  beforeAll(async () => {
    cluster = await startTokenCluster(["lone"], "concord-origin-serve-");
    cluster.serveFlags.push("--allow-origins", "https://app.example");
    await cluster.serve("lone");
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it("allows the listed origin and refuses another", async () => {
    const url = cluster.urls.lone!;
    const ws = (origin: string) => attemptWith(url, cluster.token, origin);
    expect(await ws("https://app.example")).toBe("open");
    expect(await ws("https://other.example")).toBe(403);
  });
});

function attemptWith(base: string, bearer: string, origin: string): Promise<"open" | number> {
  const ws = new WebSocket(`${base.replace("http", "ws")}/v1/sync`, { origin, headers: { authorization: `Bearer ${bearer}` } });
  return new Promise((resolve, reject) => {
    ws.once("open", () => {
      ws.close();
      resolve("open");
    });
    ws.once("unexpected-response", (_request, response) => {
      resolve(response.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("error", reject);
  });
}
