/**
 * The HTTP load generator the server benchmarks share: wrk (Debian's `wrk`
 * package) when it is on the PATH, else a fetch loop in a worker thread (so
 * the load never shares the measured server's event loop). Every run says
 * which one it used; ratios are only ever taken between runs of one tool.
 *
 * A load is a list of "streams": each connection sends its stream's requests
 * in order, one at a time (wrk gets one thread per stream for that), so a
 * stream of Yjs deltas from one client arrives in the order it was made.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Worker } from "node:worker_threads";

/** One request shape: every request of a stream has the same method and headers. */
export interface LoadSpec {
  method: "GET" | "POST" | "PATCH";
  headers: Record<string, string>;
  /** Per connection: the requests it sends in order (cycled when the run outlasts them). */
  streams: Array<Array<{ path: string; body?: Uint8Array }>>;
  /** How long to load, seconds. */
  seconds: number;
}

export interface LoadResult {
  tool: "wrk" | "fetch-worker";
  requests: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Answers that were not 2xx or 3xx, and socket errors. */
  errors: number;
}

const run = promisify(execFile);

let wrkPath: string | null | undefined;
/** The wrk binary, or null when it is not installed. */
export async function findWrk(): Promise<string | null> {
  if (wrkPath !== undefined) return wrkPath;
  try {
    wrkPath = (await run("sh", ["-c", "command -v wrk"])).stdout.trim() || null;
  } catch {
    wrkPath = null;
  }
  return wrkPath;
}

/** Which tool a load will use, for the benchmark's header line. */
export async function loadTool(): Promise<string> {
  return (await findWrk()) ? "wrk 4 (one thread per connection, `--latency`)" : "fetch in a worker thread (wrk not installed: `apt-get install wrk` for the figures the issue quotes)";
}

/** Loads `base` (e.g. http://127.0.0.1:1234) with `spec`, one connection per stream. */
export async function load(base: string, spec: LoadSpec): Promise<LoadResult> {
  const wrk = await findWrk();
  return wrk ? loadWithWrk(wrk, base, spec) : loadWithWorker(base, spec);
}

const luaString = (text: string) => JSON.stringify(text); // ASCII paths and header values only

/** Each stream's requests in a file of [u32 path length, path, u32 body length, body]. */
function streamFile(stream: LoadSpec["streams"][number]): Buffer {
  const parts: Buffer[] = [];
  for (const { path, body } of stream) {
    const p = Buffer.from(path);
    const b = Buffer.from(body ?? new Uint8Array(0));
    const head = Buffer.alloc(4);
    head.writeUInt32LE(p.length);
    const bodyHead = Buffer.alloc(4);
    bodyHead.writeUInt32LE(b.length);
    parts.push(head, p, bodyHead, b);
  }
  return Buffer.concat(parts);
}

const lua = (dir: string, spec: LoadSpec) => `
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
local function u32(s, i)
  local a, b, c, d = s:byte(i, i + 3)
  return a + b * 256 + c * 65536 + d * 16777216
end
local reqs = {}
local n = 0
function init(args)
  local f = assert(io.open(${luaString(dir)} .. "/stream-" .. id .. ".bin", "rb"))
  local data = f:read("*a")
  f:close()
  local i = 1
  local headers = {}
${Object.entries(spec.headers).map(([k, v]) => `  headers[${luaString(k)}] = ${luaString(v)}`).join("\n")}
  while i <= #data do
    local pl = u32(data, i); local path = data:sub(i + 4, i + 3 + pl); i = i + 4 + pl
    local bl = u32(data, i); local body = nil
    if bl > 0 then body = data:sub(i + 4, i + 3 + bl) end
    i = i + 4 + bl
    n = n + 1
    reqs[n] = wrk.format(${luaString(spec.method)}, path, headers, body)
  end
end
local k = 0
function request()
  k = k % n + 1
  return reqs[k]
end
`;

function parseWrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) throw new Error(`wrk: cannot read latency "${text}"`);
  const factor = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as "us" | "ms" | "s" | "m"];
  return Number(m[1]) * factor;
}

async function loadWithWrk(wrk: string, base: string, spec: LoadSpec): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), "concord-wrk-"));
  try {
    // wrk calls thread 0's request() once to check it before the run, and that request is never sent:
    // every stream starts with a copy of its first request, sent twice by the other threads (harmless:
    // a GET, or a delta the server already holds).
    await Promise.all(spec.streams.map((s, i) => writeFile(join(dir, `stream-${i}.bin`), streamFile([s[0]!, ...s]))));
    await writeFile(join(dir, "load.lua"), lua(dir, spec));
    const n = spec.streams.length;
    const { stdout } = await run(wrk, ["-t", String(n), "-c", String(n), "-d", `${spec.seconds}s`, "--timeout", "10s", "--latency", "-s", join(dir, "load.lua"), base], { maxBuffer: 1 << 20 });
    const requests = Number(/(\d+) requests in/.exec(stdout)?.[1]);
    const perSecond = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
    const p50 = /\s50%\s+(\S+)/.exec(stdout)?.[1];
    const p99 = /\s99%\s+(\S+)/.exec(stdout)?.[1];
    if (!Number.isFinite(requests) || !Number.isFinite(perSecond) || !p50 || !p99) throw new Error(`wrk: unexpected output\n${stdout}`);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
    const socketErrors = socket ? socket.slice(1).reduce((sum, x) => sum + Number(x), 0) : 0;
    return { tool: "wrk", requests, perSecond, p50Ms: parseWrkMs(p50), p99Ms: parseWrkMs(p99), errors: non2xx + socketErrors };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The fallback: the same streams driven by fetch from a worker thread (its own event loop). */
const workerSource = `
const { parentPort, workerData } = require("node:worker_threads");
const { base, method, headers, streams, seconds } = workerData;
(async () => {
  const latencies = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(streams.map(async (stream) => {
    for (let i = 0; performance.now() < end; i = (i + 1) % stream.length) {
      const { path, body } = stream[i];
      const t = performance.now();
      try {
        const r = await fetch(base + path, { method, headers, body });
        await r.arrayBuffer();
        if (r.status >= 400) errors++;
      } catch { errors++; }
      latencies.push(performance.now() - t);
    }
  }));
  parentPort.postMessage({ latencies, errors });
})();
`;

async function loadWithWorker(base: string, spec: LoadSpec): Promise<LoadResult> {
  const started = performance.now();
  const { latencies, errors } = await new Promise<{ latencies: number[]; errors: number }>((resolve, reject) => {
    const worker = new Worker(workerSource, { eval: true, workerData: { base, method: spec.method, headers: spec.headers, streams: spec.streams, seconds: spec.seconds } });
    worker.once("message", (m) => {
      resolve(m);
      void worker.terminate();
    });
    worker.once("error", reject);
  });
  const ms = performance.now() - started;
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { tool: "fetch-worker", requests: latencies.length, perSecond: (latencies.length / ms) * 1000, p50Ms: at(0.5), p99Ms: at(0.99), errors };
}
