/**
 * Fuzz target: HTTP request bodies against the real Hono app (createServer)
 * over a replica on a memory disk, in process (no socket: the app is what
 * parses and judges bodies). Bodies vary in:
 * - shape: random JSON-ops, wrong types, non-JSON, truncated JSON;
 * - depth: values nested 1 to 100,000 deep, arrays and objects;
 * - size: long strings, many ops, bodies over the size limit;
 * and go to PATCH, PUT (create with init) and POST /updates (mutated deltas).
 * 2xx is "accepted", 4xx with an error code "refused", 5xx or a throw
 * "crashed". After every accepted write the document must still read (GET
 * 200), and after each chunk the replica restarts from its disk (compacting
 * every few records) and every document must read and take a write, else
 * "poisoned".
 */
import { createServer, type ConcordApp } from "../../src/server/app.ts";
import { openReplica, type Replica } from "../../src/replica/replica.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom, type Random } from "../../src/runtime/random.ts";
import { createMemoryDisk, type MemoryDisk } from "../../src/storage/memory-store.ts";
import { testKey } from "../helpers/replicas.ts";
import { newTally, type FuzzOptions, type FuzzTally } from "./tally.ts";
import { corpus, fixAutomergeChecksum, mutate, randomOp, randomValue } from "./targets.ts";

const ids = ["y", "am", "new", "y2"] as const;
const depths = [1, 10, 63, 64, 65, 100, 1000, 10_000, 100_000];
const allSizes = [0, 1000, 100_000, 1 << 20, 9 << 20];

function nested(depth: number, random: Random): string {
  const object = random.int(2) === 0;
  return (object ? '{"a":' : "[").repeat(depth) + "1" + (object ? "}" : "]").repeat(depth);
}

interface Request { method: string; path: string; body: string | Uint8Array }

/** One hostile request. */
function hostileRequest(random: Random, deltas: Record<"yjs" | "automerge", Uint8Array[]>, light: boolean): Request {
  const sizes = light ? allSizes.slice(0, 3) : allSizes;
  const opCounts = light ? [1, 100, 1000] : [1, 100, 5000, 50_000];
  const id = ids[random.int(ids.length)]!;
  const patch = (body: string): Request => ({ method: "PATCH", path: `/v1/docs/${id}`, body });
  const valuePath = id.startsWith("y") ? '["m","v"]' : '["v"]';
  switch (random.int(8)) {
    case 0: return patch(JSON.stringify({ ops: Array.from({ length: 1 + random.int(4) }, () => randomOp(random)) }));
    case 1: return patch(`{"ops":[{"op":"set","path":${valuePath},"value":${nested(depths[random.int(depths.length)]!, random)}}]}`);
    case 2: return patch(JSON.stringify({ ops: [{ op: "set", path: JSON.parse(valuePath), value: "s".repeat(sizes[random.int(sizes.length)]!) }] }));
    case 3: return patch(JSON.stringify({ ops: Array.from({ length: opCounts[random.int(opCounts.length)]! }, (_, i) => ({ op: "set", path: [...JSON.parse(valuePath), `k${i % 300}`], value: i })) }));
    case 4: {
      const text = JSON.stringify({ ops: [randomOp(random)] });
      const shapes = ["", "null", "[]", '{"ops":{}}', '{"ops":"x"}', '{"ops":[null]}', '{"ops":[1,2]}', text.slice(0, random.int(text.length)), '{"__proto__":{"ops":[]}}', "\u0000\uffff", '{"ops":[{"op":"set","path":[],"value":1}]}'];
      return patch(shapes[random.int(shapes.length)]!);
    }
    case 5: {
      const kinds = ['"yjs"', '"automerge"', '"nope"', "1", "null"];
      const init = [JSON.stringify(randomValue(random)), nested(depths[random.int(depths.length)]!, random), '{"m":{"v":1}}', "[1,2]", '"text"'][random.int(5)];
      return { method: "PUT", path: `/v1/docs/new-${random.int(20)}`, body: `{"kind":${kinds[random.int(kinds.length)]},"init":${init}}` };
    }
    default: {
      const kind = id.startsWith("y") ? "yjs" : "automerge";
      let delta = mutate(deltas[kind][random.int(deltas[kind].length)]!, deltas[kind], random);
      if (kind === "automerge" && random.int(2) === 0) delta = fixAutomergeChecksum(delta);
      // timeoutMs=0: a delta whose dependencies are missing is refused at once instead of waiting for them
      // (pipelining); the replica's clock here is manual, so a wait would never end.
      return { method: "POST", path: `/v1/docs/${id}/updates?timeoutMs=0`, body: delta };
    }
  }
}

interface Running { disk: MemoryDisk; replica: Replica; app: ConcordApp }

async function open(disk: MemoryDisk, seed: number): Promise<Running> {
  const replica = await openReplica({
    store: disk.open(), masterKey: testKey(3), region: "fuzz", clock: createManualClock(1_700_000_000_000), random: createSeededRandom(seed),
    compactMaxLogRecords: 3, compactMinLogBytes: 0,
  });
  return { disk, replica, app: createServer(replica, { clock: createManualClock(0), viewCacheBytes: 0 }) };
}

async function send(app: ConcordApp, request: Request): Promise<Response> {
  const type = typeof request.body === "string" ? "application/json" : "application/octet-stream";
  return app.request(request.path, { method: request.method, body: request.body as BodyInit, headers: { "content-type": type } });
}

/** Every document reads and takes a write; returns what failed. */
async function checkAll(app: ConcordApp, replica: Replica): Promise<string[]> {
  const failures: string[] = [];
  for await (const id of replica.list()) {
    const read = await app.request(`/v1/docs/${encodeURIComponent(id)}`);
    const kind = read.ok ? ((await read.json()) as { kind: string }).kind : "?";
    const path = kind === "yjs" ? ["after", "ok"] : ["after"];
    const write = await send(app, { method: "PATCH", path: `/v1/docs/${encodeURIComponent(id)}`, body: JSON.stringify({ ops: [{ op: "set", path, value: 1 }] }) });
    if (!read.ok || !write.ok) failures.push(`${id}: GET ${read.status}, PATCH ${write.status} ${await write.text()}`);
  }
  return failures;
}

/** `light`: bodies up to 100 KB and 1,000 ops (the short run in npm test); npm run fuzz sends up to 9 MiB and 50,000 ops. */
export async function fuzzHttp(options: FuzzOptions & { light?: boolean }): Promise<FuzzTally> {
  const tally = newTally("HTTP bodies");
  const random = createSeededRandom(options.seed);
  const deltas = { yjs: corpus("yjs"), automerge: corpus("automerge") };
  let running = await open(createMemoryDisk(), options.seed);
  await send(running.app, { method: "PUT", path: "/v1/docs/y", body: '{"kind":"yjs"}' });
  await send(running.app, { method: "PUT", path: "/v1/docs/y2", body: '{"kind":"yjs","init":{"m":{"v":1}}}' });
  await send(running.app, { method: "PUT", path: "/v1/docs/am", body: '{"kind":"automerge","init":{"v":1,"l":[1]}}' });
  try {
    for (let n = 0; n < options.inputs; n++) {
      const where = `http seed ${options.seed} input ${n}`;
      const request = hostileRequest(random, deltas, options.light ?? false);
      tally.tried++;
      const started = options.now?.() ?? 0;
      const note = (what: string) => tally.failures.length < 5 && tally.failures.push(`${where} (${request.method} ${request.path}, ${request.body.length} bytes): ${what}`);
      try {
        const answer = await send(running.app, request);
        const text = await answer.text();
        if (answer.status < 300) {
          tally.accepted++;
          const id = request.path.split("/")[3]!;
          const read = await running.app.request(`/v1/docs/${id}`);
          if (!read.ok) {
            tally.poisoned++;
            note(`accepted (${answer.status}), then GET ${read.status} ${await read.text()}`);
          }
        } else if (answer.status < 500 && /"code":"[a-z_]+"/.test(text)) tally.refused++;
        else {
          tally.crashed++;
          note(`${answer.status} ${text.slice(0, 200)}`);
        }
      } catch (error) {
        tally.crashed++;
        note(String(error));
      }
      if (options.now && options.now() - started > (options.slowMs ?? 1000)) {
        tally.hung++;
        note(`took ${Math.round(options.now() - started)} ms`);
      }
    }
    await running.replica.close();
    running = await open(running.disk, options.seed + 1);
    const failures = await checkAll(running.app, running.replica);
    tally.poisoned += failures.length;
    for (const failure of failures.slice(0, Math.max(0, 5 - tally.failures.length))) tally.failures.push(`http seed ${options.seed} after restart: ${failure}`);
  } finally {
    await running.replica.close();
  }
  return tally;
}
