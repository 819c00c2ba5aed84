/**
 * Fuzz target: gossip frames, fed to a region the way a hostile network or a
 * hostile peer would. A cluster of three in-memory regions (a, b, c) writes
 * documents of both engines and replicates; every frame a sent to b is kept.
 * Then a is silenced and the fuzzer speaks for it, to b's Gossip.handle:
 * - mutated sealed frames (bit flips, truncation, splices, inserted bytes);
 * - authentic frames of a version b does not speak;
 * - replays of frames b already accepted;
 * - authentic frames (sealed with a's pair key) around a mutated message:
 *   mutated request bytes, or a push whose entry's delta, id or kind is mutated.
 * A frame is "refused" when b answers nothing, a refusal, a "refused" message
 * or a pushAck rejecting every entry; otherwise "accepted". handle() throwing
 * is a crash. After each chunk b restarts (crash, reload from its disk, with
 * compaction every few records) and every document must read, take a write,
 * and converge with c; a document that fails is "poisoned".
 */
import * as Y from "yjs";
import * as Automerge from "@automerge/automerge";
import { compressedSince, decodeFrameBody, openFrame, readHeader, sealFrame, supportedVersions } from "../../src/gossip/frame.ts";
import { decompressMessage } from "../../src/gossip/frame-compression.ts";
import { decodeRequest, decodeResponse, encodeRequest, type Request } from "../../src/gossip/messages.ts";
import { derivePairKey } from "../../src/gossip/region-keys.ts";
import { createSecureChannel, type SecureChannel } from "../../src/gossip/secure-channel.ts";
import { isConcordError } from "../../src/errors.ts";
import { createSeededRandom, type Random } from "../../src/runtime/random.ts";
import { createCluster, type Cluster } from "../helpers/cluster.ts";
import { fixAutomergeChecksum, mutate } from "./targets.ts";
import { newTally, type FuzzOptions, type FuzzTally } from "./tally.ts";

interface Setup {
  cluster: Cluster;
  /** Speaks for a to b. */
  forger: SecureChannel;
  pairKey: Uint8Array;
  /** Sealed requests a sent to b, and their messages. */
  frames: Uint8Array[];
  messages: Uint8Array[];
  /** Frames the forger sent that b accepted (replay candidates). */
  accepted: Uint8Array[];
}

async function setUp(seed: number): Promise<Setup> {
  const cluster = await createCluster({ names: ["a", "b", "c"], seed, capture: true, replica: { compactMaxLogRecords: 3, compactMinLogBytes: 0 } });
  const a = cluster.get("a").replica;
  await a.create("y1", "yjs");
  await a.change("y1", (d: Y.Doc) => { d.getText("t").insert(0, "hello"); d.getMap("m").set("k", [1, { x: "y" }]); });
  await a.create("am1", "automerge");
  await a.change("am1", (d: any) => { d.t = "hello"; d.l = [1, 2]; d.c = new Automerge.Counter(1); });
  await a.change("am1", (d: any) => { Automerge.splice(d, ["t"], 1, 2, "XY"); d.l.push({ deep: [1] }); });
  await a.patch("y1", [{ op: "insertText", path: ["t"], index: 2, text: "abc" }]);
  await a.delete("y1").then(() => a.create("y2", "yjs")).then(() => a.patch("y2", [{ op: "set", path: ["m", "v"], value: 1 }]));
  await cluster.settle(3000);
  const b = cluster.get("b");
  const aKeys = cluster.get("a").keyPair;
  const pairKey = derivePairKey(aKeys, b.keyPair.publicKey);
  const frames: Uint8Array[] = [];
  const messages: Uint8Array[] = [];
  for (const frame of cluster.network.captured) {
    const { header, headerBytes } = readHeader(frame, 1 << 30);
    if (header.sender !== "a" || header.receiver !== "b" || header.kind !== "request") continue;
    frames.push(frame);
    const { message } = decodeFrameBody(openFrame(frame, headerBytes, pairKey), header.version);
    messages.push(header.version >= compressedSince ? decompressMessage(message, 1 << 30) : message);
  }
  cluster.get("a").gossip.stop();
  cluster.network.isolate("a");
  // A new boot of a, far above the real one's counters; it learns b's epoch from b's first refusal.
  const forger = createSecureChannel({ self: "a", keyPair: aKeys, peers: new Map([["b", b.keyPair.publicKey]]), epoch: 2 ** 31 + seed % 1000, random: createSeededRandom(seed) });
  const hello = forger.seal("b", "request", encodeRequest({ type: "heartbeat" }));
  forger.open(await b.gossip.handle(hello.frame), { answers: { peer: "b", counter: hello.counter } });
  return { cluster, forger, pairKey, frames, messages, accepted: [] };
}

/** One hostile frame for b, and whether the forger sealed it (so its answer can be opened). */
function hostileFrame(setup: Setup, random: Random): { frame: Uint8Array; counter?: bigint } {
  const pick = <T>(list: T[]) => list[random.int(list.length)]!;
  switch (random.int(6)) {
    case 0: return { frame: mutate(pick(setup.frames), setup.frames, random) };
    case 1: {
      // Authentic, but of a version b does not speak.
      const versions = [0, 1, 5, 255].filter((v) => !(supportedVersions as readonly number[]).includes(v));
      const header = { version: pick(versions), kind: "request" as const, sender: "a", receiver: "b", counter: (2n ** 62n) + BigInt(random.int(1 << 30)), replyTo: 0n };
      return { frame: sealFrame(header, pick(setup.messages), setup.pairKey, random) };
    }
    case 2:
    case 3: {
      if (setup.accepted.length > 0 && random.int(2) === 0) return { frame: pick(setup.accepted) };
      const { frame, counter } = setup.forger.seal("b", "request", mutate(pick(setup.messages), setup.messages, random));
      return { frame, counter };
    }
    default: {
      const { frame, counter } = setup.forger.seal("b", "request", mutatedPush(setup, random));
      return { frame, counter };
    }
  }
}

/** A push whose entries are real ones with a mutated delta, id or kind. */
function mutatedPush(setup: Setup, random: Random): Uint8Array {
  const pushes = setup.messages.map((m) => decodeRequest(m)).filter((r): r is Extract<Request, { type: "push" }> => r.type === "push");
  const entries = pushes.flatMap((p) => p.entries).filter((e) => !("deleted" in e)) as Array<{ id: string; kind: "yjs" | "automerge"; delta: Uint8Array }>;
  const deltas = entries.map((e) => e.delta);
  const entry = { ...entries[random.int(entries.length)]! };
  switch (random.int(4)) {
    case 0: entry.id = ["", "y1", "am1", "y2", "x".repeat(300), "a/b", "\u0000", "new-" + random.int(50)][random.int(8)]!; break;
    case 1: entry.kind = entry.kind === "yjs" ? "automerge" : "yjs"; break;
    default: {
      entry.delta = mutate(entry.delta, deltas, random);
      if (entry.kind === "automerge" && random.int(2) === 0) entry.delta = fixAutomergeChecksum(entry.delta);
    }
  }
  return encodeRequest({ type: "push", entries: [entry] });
}

/** Whether b's answer refused the frame (true) or accepted it (false). */
function refusedBy(setup: Setup, answer: Uint8Array, counter: bigint | undefined): boolean {
  if (answer.length === 0 || counter === undefined) {
    return answer.length === 0 || readHeader(answer, 1 << 30).header.kind === "refusal";
  }
  const opened = setup.forger.open(answer, { answers: { peer: "b", counter } });
  if (opened.header.kind === "refusal") return true;
  const response = decodeResponse(opened.payload);
  if (response.type === "refused") return true;
  return response.type === "pushAck" && response.statuses.every((s) => s === "rejected" || s === "failed");
}

/** Restarts b from its disk; every document must read, take a write, and converge with c. Returns what failed. */
async function checkRegions(cluster: Cluster): Promise<string[]> {
  const failures: string[] = [];
  const b = await cluster.restart("b");
  await cluster.settle(200);
  for await (const id of b.replica.list()) {
    try {
      const view = await b.replica.read(id);
      await b.replica.patch(id, view.kind === "yjs" ? [{ op: "set", path: ["after", "ok"], value: 1 }] : [{ op: "set", path: ["after"], value: 1 }]);
    } catch (error) {
      failures.push(`${JSON.stringify(id).slice(0, 40)} at b: ${String(error)}`);
    }
  }
  await cluster.settle(3000);
  const c = cluster.get("c").replica;
  for await (const id of b.replica.list()) {
    const [atB, atC] = await Promise.all([b.replica.read(id).catch(String), c.read(id).catch(String)]);
    if (JSON.stringify(atB) !== JSON.stringify(atC)) failures.push(`${JSON.stringify(id).slice(0, 40)} differs at b and c`);
  }
  return failures;
}

/** Runs `options.inputs` hostile frames against b (one cluster per call), then checks every region. */
export async function fuzzGossip(options: FuzzOptions): Promise<FuzzTally> {
  const tally = newTally("gossip frames");
  const random = createSeededRandom(options.seed);
  const setup = await setUp(options.seed);
  const b = () => setup.cluster.get("b").gossip;
  try {
    for (let n = 0; n < options.inputs; n++) {
      const where = `gossip seed ${options.seed} input ${n}`;
      const { frame, counter } = hostileFrame(setup, random);
      tally.tried++;
      const started = options.now?.() ?? 0;
      try {
        const answer = await b().handle(frame);
        if (refusedBy(setup, answer, counter)) tally.refused++;
        else {
          tally.accepted++;
          if (counter !== undefined && setup.accepted.length < 50) setup.accepted.push(frame);
        }
      } catch (error) {
        // Opening b's answer may fail only if b answered garbage: that, or handle() throwing, is a crash.
        tally.crashed++;
        if (tally.failures.length < 5) tally.failures.push(`${where}: ${isConcordError(error) ? error.code : ""} ${String(error)}`);
      }
      await setup.cluster.settle(25);
      if (options.now && options.now() - started > (options.slowMs ?? 1000)) {
        tally.hung++;
        if (tally.failures.length < 5) tally.failures.push(`${where}: took ${Math.round(options.now() - started)} ms`);
      }
    }
    const poisoned = await checkRegions(setup.cluster);
    tally.poisoned += poisoned.length;
    for (const failure of poisoned.slice(0, 5 - tally.failures.length)) tally.failures.push(`gossip seed ${options.seed}: ${failure}`);
  } finally {
    await setup.cluster.stop();
  }
  return tally;
}
