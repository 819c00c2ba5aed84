/**
 * Replication for one region: eager push of every durable write to every
 * peer, anti-entropy rounds that repair whatever push missed, failure
 * detection, durability waiters and replication stats. Runs entirely on the
 * injected Clock, Random and Transport, so the simulator drives this code.
 */
import { ConcordError, isConcordError } from "../errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Random } from "../runtime/random.ts";
import type { Replica } from "../replica/replica.ts";
import type { DocStatus, InjectedBugs, PeerReplicationStats, ReplicaEvent, Replication } from "../replica/types.ts";
import { deletedVersionHash, versionHash } from "../replica/version-token.ts";
import { answerSync, answerTree, runRound, type RoundReport } from "./anti-entropy.ts";
import { createDigestTree, type DigestTree } from "./digest-tree.ts";
import { createFailureDetector } from "./failure-detector.ts";
import { answerRefused, rejectionOf, type FrameRejectionEvent } from "./frame-refusal.ts";
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, type DocState, type PushEntry, type Request, type Response } from "./messages.ts";
import { createPeerState, peerStats, type PeerState } from "./peer-state.ts";
import type { RegionKeyPair } from "./region-keys.ts";
import { createRemoteApplier } from "./remote-applier.ts";
import { createSecureChannel } from "./secure-channel.ts";
import { createSentStates } from "./sent-states.ts";
import { createWriteHolders } from "./write-holders.ts";
import type { Transport } from "./transport.ts";

export interface GossipOptions {
  /** Bytes of writes one push request carries at most. Default 1 MiB. */
  pushBatchMaxBytes?: number;
  /** Per-peer queue bound; past it the queue is dropped and the peer repaired by anti-entropy. Default 16 MiB. */
  queueMaxBytes?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Mean interval between anti-entropy rounds (jittered ±50%). Default 2000. */
  antiEntropyIntervalMs?: number;
  /** Hears of every incoming frame this region refuses: claimed sender, reason, message (the region logs it). */
  onFrameRejected?: (rejection: FrameRejectionEvent) => void;
  heartbeatMs?: number;
  downAfterMs?: number;
  /** Bound on remote deltas waiting for their dependencies. Default 16 MiB. */
  pendingMaxBytes?: number;
  /** Hears of each damaged document anti-entropy rewrote from `peer`'s whole state (the region logs it). */
  onDocRepaired?: (id: string, peer: string) => void;
  /**
   * Compress large frame messages to peers on protocol 3 (catch-up states shrink several-fold). Default true;
   * false if frame sizes on the wire must not depend on content (src/gossip/frame-compression.ts says why).
   */
  compressFrames?: boolean;
  /** Protocol versions spoken (tests play a region on an older protocol). Default: all this build speaks. */
  protocolVersions?: readonly number[];
  /** Simulator only: deliberate defects (see InjectedBugs in src/replica/types.ts). */
  bugs?: Pick<InjectedBugs, "dropFailedPushes" | "skipAntiEntropy">;
  /**
   * A region of several processes: whether this process runs the region's own anti-entropy rounds now (it
   * holds the duty lease, src/server/region-members.ts). Asked on every round timer; default: always.
   */
  runsRounds?: () => boolean;
  /** A region of several processes: its epoch and lane floor (see ChannelOptions in secure-channel.ts). */
  regionEpoch?: () => number;
  laneFloor?: () => number;
}

export interface GossipDeps {
  replica: Replica;
  transport: Transport;
  clock: Clock;
  random: Random;
  self: string;
  keyPair: RegionKeyPair;
  /** Every other region: id → X25519 public key. */
  peers: ReadonlyMap<string, Uint8Array>;
  /**
   * This process's boot epoch, when not the replica's: a process of a region of several draws its own from
   * the region's sequence (its sending lane; see secure-channel.ts).
   */
  epoch?: number;
}

export interface Gossip extends Replication {
  /**
   * Starts serving and the timers at once, and builds the digest tree from the
   * store in the background: pushes apply meanwhile, anti-entropy waits for it.
   */
  start(): Promise<void>;
  /** Resolves once the digest tree holds every document of the store (rejects if reading the store failed). */
  treeReady(): Promise<void>;
  stop(): void;
  /** Handles one incoming frame (the Transport's handler). */
  handle(frame: Uint8Array): Promise<Uint8Array>;
  /** Counts and reports a frame its transport refused before handle() could see it (e.g. a body over the size limit). */
  refused(rejection: FrameRejectionEvent): void;
  /**
   * Screens the first `screenBytes` of a frame still arriving (SecureChannel.screen): throws a counted,
   * reported bad_frame/unknown_peer for a frame from a non-peer; returns the claimed sender otherwise.
   */
  screen(prefix: Uint8Array): string;
  /** One anti-entropy round with `peer` now (tests, benchmarks, operators). */
  antiEntropy(peer: string): Promise<RoundReport>;
  /** Bytes of request and response payloads exchanged so far (deterministic, for cost tests). */
  readonly payloadBytes: { sent: number; received: number };
  readonly tree: DigestTree;
}

/** The refusal code of a tree or sync request that arrives while the digest tree is still being built. */
const treeBuildingCode = "tree_building";
/** A peer that comes back up with more than this queued for it gets anti-entropy instead of its backlog. */
const farBehindBytes = 64 << 10;
/** Documents the background tree build takes between two pauses for the event loop. */
const treeYieldEvery = 1000;
/** How long such a request waits for the tree before it is refused: well inside the sender's deadline. */
const treeWaitMs = 1000;

function statusHash(status: DocStatus): Uint8Array | undefined {
  if (status.state === "present") return versionHash(status.version);
  return status.state === "deleted" ? deletedVersionHash() : undefined;
}

export function createGossip(deps: GossipDeps, options: GossipOptions = {}): Gossip {
  const o = {
    pushBatchMaxBytes: 1 << 20, queueMaxBytes: 16 << 20, retryBaseMs: 100, retryMaxMs: 5000,
    antiEntropyIntervalMs: 2000, heartbeatMs: 1000, downAfterMs: 3000, pendingMaxBytes: 16 << 20, ...options,
  };
  const { replica, transport, clock, random, self } = deps;
  const peerIds = [...deps.peers.keys()].sort();
  const channel = createSecureChannel({
    self, keyPair: deps.keyPair, peers: deps.peers, epoch: deps.epoch ?? replica.epoch, random,
    compress: options.compressFrames ?? true, ...(options.protocolVersions ? { versions: options.protocolVersions } : {}),
    ...(options.regionEpoch ? { regionEpoch: options.regionEpoch } : {}), ...(options.laneFloor ? { laneFloor: options.laneFloor } : {}),
  });
  const detector = createFailureDetector(peerIds, o.downAfterMs, clock.now());
  const applier = createRemoteApplier(replica, o.pendingMaxBytes);
  const tree = createDigestTree();
  const payloadBytes = { sent: 0, received: 0 };
  const peers = new Map(peerIds.map((id) => [id, createPeerState(o.queueMaxBytes, o.retryBaseMs)]));
  const holders = createWriteHolders(clock);
  // What our answers to a peer's rounds and our own rounds' pushes carried to it (see sent-states.ts).
  const answered = createSentStates(clock, 2 * o.antiEntropyIntervalMs);
  const pushed = createSentStates(clock, 2 * o.antiEntropyIntervalMs);
  // Cancel functions of the timers still pending: each one leaves the set when it fires, so it stays small.
  const timers = new Set<() => void>();
  const probing = new Set<string>();
  let stopped = false;
  let docsSkipped = 0;
  // Per peer: the anti-entropy round running, and the one queued behind it.
  const rounds = new Map<string, { running: Promise<RoundReport> | undefined; next: Promise<RoundReport> | undefined }>();
  // Per peer: when it last sent us a tree or sync request (it is running a round with us).
  const roundRequestFrom = new Map<string, number>();

  const peer = (id: string) => peers.get(id)!;

  // The digest tree is built from the store after start() (0.3 ms per document: minutes at a million), so
  // the region serves at once. Until it is built, ids changed by an apply are noted: their entry is newer than
  // what the store's inventory says, and the build must not overwrite it.
  let building: Set<string> | undefined = new Set();
  let built: Promise<void> | undefined;
  const buildTree = async () => {
    let sinceYield = 0;
    for await (const { id, versionHash: hash } of replica.inventory()) {
      if (!building!.has(id)) tree.set(id, hash);
      // The store's reads settle as microtasks: without a pause now and then the build would hold the event
      // loop until done, and the region would not serve meanwhile after all.
      if (++sinceYield === treeYieldEvery) {
        sinceYield = 0;
        await new Promise<void>((resolve) => clock.timer(0, resolve));
        if (stopped) return; // the replica may be closing: read no more of its store
      }
    }
    building = undefined;
  };
  const treeReady = () => (built ??= buildTree());
  /** Whether the tree is built within `ms` (a small store's is, long before a peer's request gives up). */
  const builtWithin = (ms: number) => new Promise<boolean>((resolve) => {
    const cancel = clock.timer(ms, () => resolve(false));
    treeReady().then(() => (cancel(), resolve(true)), () => (cancel(), resolve(false)));
  });

  /** Runs `fn` after `ms` unless stopped first. */
  function later(ms: number, fn: () => void): void {
    if (stopped) return;
    const cancel = clock.timer(ms, () => {
      timers.delete(cancel);
      fn();
    });
    timers.add(cancel);
  }

  async function request(to: string, message: Request, resends = 0): Promise<Response> {
    const payload = encodeRequest(message);
    const sealedVersion = channel.peerVersion(to);
    const { frame, counter } = channel.seal(to, "request", payload);
    const state = peer(to);
    state.bytesSent += frame.length;
    payloadBytes.sent += payload.length;
    let response: Response;
    try {
      const reply = await transport.send(to, frame);
      state.bytesReceived += reply.length;
      const opened = channel.open(reply, { expect: ["response", "refusal"], answers: { peer: to, counter } });
      payloadBytes.received += opened.payload.length;
      response = decodeResponse(opened.payload);
    } catch (error) {
      // No usable answer, whatever the reason (unreachable, forged, garbled): that is what marks a peer down.
      detector.failed(to, clock.now());
      throw error;
    }
    if (response.type === "refused") {
      // Made for an earlier boot of the peer (or before we heard its epoch): nothing was served, and opening the
      // refusal taught the channel the peer's epoch, so the request goes again, once.
      if (response.code === "stale_epoch" && resends < 2) return request(to, message, resends + 1);
      // A peer on an older protocol: its refusal, sealed in a version it speaks, moved the channel down to that
      // one already, or we step down ourselves; then the request goes again.
      if (response.code === "unsupported_version" && resends < 2 && (channel.peerVersion(to) < sealedVersion || channel.stepDown(to))) {
        return request(to, message, resends + 1);
      }
      // Up and serving, only not ready for rounds yet: not a reason to stop pushing to it.
      if (response.code === treeBuildingCode) throw new ConcordError("unavailable", `${to} is still building its digest tree`);
      // Answered, but not served: as far as pushing goes the peer is not up.
      detector.failed(to, clock.now());
      if (response.code === "replayed" && response.highestSeen !== undefined && channel.skipPast(to, response.highestSeen)) {
        state.countersSkipped++;
        throw new ConcordError("unavailable", `${to} refused a frame as replayed: counters to it now start past ${response.highestSeen}`);
      }
      throw new ConcordError("unavailable", `${to} refused: ${response.message} [${response.code}]`);
    }
    if (detector.succeeded(to, clock.now())) onPeerUp(to);
    return response;
  }

  /** Calls pump(to) once the backoff has passed; one timer per peer at a time. */
  function pumpLater(to: string, state: PeerState): void {
    if (state.retryTimer || stopped) return;
    state.retryTimer = true;
    later(Math.max(1, state.retryAt - clock.now() + 1), () => {
      state.retryTimer = false;
      void pump(to);
    });
  }

  async function pump(to: string): Promise<void> {
    const state = peer(to);
    if (stopped || state.inFlight || state.queue.length === 0 || !detector.isUp(to)) return;
    // Still backing off: make sure a timer will come back (a skewed clock can fire one early).
    if (clock.now() < state.retryAt) return pumpLater(to, state);
    state.inFlight = true;
    const { entries, generation } = state.queue.peek(o.pushBatchMaxBytes);
    try {
      const response = await request(to, { type: "push", entries: entries.map((e) => e.entry) });
      if (response.type !== "pushAck") throw new ConcordError("bad_frame", "a push answered with something else");
      state.queue.ack(generation, entries.length);
      state.lastAckAt = clock.now();
      state.backoffMs = o.retryBaseMs;
      response.statuses.forEach((status, i) => status === "persisted" && holders.record(entries[i]!.localSeq, to));
    } catch {
      if (o.bugs?.dropFailedPushes) {
        state.queue.ack(generation, entries.length);
        return;
      }
      // Exponential backoff with full jitter, so regions recovering together do not retry in lockstep.
      state.retryAt = clock.now() + random.float() * state.backoffMs;
      state.backoffMs = Math.min(o.retryMaxMs, state.backoffMs * 2);
      pumpLater(to, state);
    } finally {
      state.inFlight = false;
    }
    if (state.queue.length > 0 && clock.now() >= state.retryAt) void pump(to);
  }

  /** One heartbeat to a peer held down, unless one is in flight already. */
  function probe(to: string): void {
    if (probing.has(to) || stopped) return;
    probing.add(to);
    void request(to, { type: "heartbeat" }).catch(() => undefined).finally(() => probing.delete(to));
  }

  function onPeerUp(to: string): void {
    // Far behind: one diff or state per document, by the anti-entropy round that follows, costs less than the
    // backlog write by write (a fresh region got 3.5× the documents' size that way), and it arrives in bounded
    // batches instead of pushes the peer may time out on. A short backlog is pushed: it acks durability waiters.
    const queue = peer(to).queue;
    if (queue.bytes > Math.min(o.pushBatchMaxBytes, farBehindBytes)) queue.drop();
    void pump(to);
    if (!peerRunsRound(to)) void antiEntropy(to).catch(() => undefined);
  }

  /** True while `to` is running an anti-entropy round with us: one round repairs both sides, so ours can wait. */
  function peerRunsRound(to: string): boolean {
    const at = roundRequestFrom.get(to);
    // A whole interval: under load a far-behind peer's round spends seconds applying between two requests.
    return at !== undefined && clock.now() - at < o.antiEntropyIntervalMs;
  }

  /** A durable change or deletion: the digest tree holds only what the store does. */
  function onDurable(event: ReplicaEvent): void {
    building?.add(event.id);
    tree.set(event.id, event.type === "delete" ? deletedVersionHash() : versionHash(event.versionBytes));
  }

  /**
   * A change as soon as it is applied here (a deletion once durable): pushed to every peer without waiting for
   * this region's disk, which would add an fsync to every write's way to the other regions. Safe: a write is
   * acknowledged only once durable here (the holders count peers' "persisted" answers towards durability
   * "majority"/"all", never in place of this region's own), and a peer that got a write this region then lost in a
   * crash hands it back through anti-entropy.
   */
  function onApplied(event: ReplicaEvent): void {
    if (event.origin !== "local") return; // regions push only their own writes: no relaying
    const entry: PushEntry = event.type === "delete" ? { id: event.id, deleted: true } : { id: event.id, kind: event.kind, delta: event.delta };
    const bytes = event.type === "delete" ? event.id.length + 8 : event.delta.length + event.id.length + 8;
    for (const to of peerIds) {
      peer(to).queue.push({ entry, bytes, localSeq: event.localSeq, enqueuedAt: clock.now() });
      void pump(to);
    }
  }

  /**
   * One round with `to` that starts after this call. Rounds with one peer never overlap (overlapping rounds
   * find the same differences and send the same states twice): a call during a round waits for it and shares
   * the one round that follows with every other call that waited meanwhile.
   */
  function antiEntropy(to: string): Promise<RoundReport> {
    const state = rounds.get(to) ?? { running: undefined, next: undefined };
    rounds.set(to, state);
    if (!state.running) {
      state.running = runRoundWith(to).finally(() => {
        state.running = undefined;
      });
      return state.running;
    }
    state.next ??= state.running.catch(() => undefined).then(() => {
      state.next = undefined;
      return antiEntropy(to);
    });
    return state.next;
  }

  async function runRoundWith(to: string): Promise<RoundReport> {
    if (o.bugs?.skipAntiEntropy) return { roundTrips: 0, differing: 0, repairedHere: 0, repairedThere: 0, skipped: 0 };
    await treeReady();
    const state = peer(to);
    const droppedBefore = state.queue.dropped;
    const report = await runRound({
      replica, tree,
      request: (message) => request(to, message),
      applyFromPeer: async (entry) => {
        // A document failing here fails this document's step of the round, not the round.
        const status = await applier.apply(entry);
        if (status === "failed") throw new ConcordError("internal", `document "${entry.id}" could not be written here`);
        await applier.retry(entry.id);
      },
      settled: (id, status) => tree.set(id, statusHash(status)),
      repaired: (id) => o.onDocRepaired?.(id, to),
      alreadySent: (id, theirs, ours) => answered.covers(to, id, theirs, ours),
      pushing: (id, theirs, ours) => pushed.record(to, id, theirs, ours),
    });
    state.rounds++;
    state.repaired += report.repairedHere + report.repairedThere;
    docsSkipped += report.skipped;
    // Only a round that completed repairs the peer, and only of drops before it began: one during the round may
    // have lost writes the round compared too early to see.
    if (state.queue.dropped === droppedBefore) state.queue.needsRepair = false;
    return report;
  }

  async function serve(sender: string, message: Request): Promise<Response> {
    if (message.type === "tree" || message.type === "sync") {
      roundRequestFrom.set(sender, clock.now());
      // Answering from a half-built tree would tell the peer we lack what we hold (and a joining peer would
      // count that round as caught up): refuse, and let it come back; pushes are served meanwhile.
      if (building && !(await builtWithin(treeWaitMs))) {
        return { type: "refused", code: treeBuildingCode, message: "building its digest tree: try later" };
      }
    }
    switch (message.type) {
      case "push": {
        return { type: "pushAck", statuses: await applier.applyAll(message.entries) };
      }
      case "heartbeat":
        return { type: "heartbeatAck" };
      case "tree":
        return { type: "treeAnswer", answers: answerTree(tree, message.nodes) };
      case "sync": {
        const docs = await answerSync(replica, message.docs, () => docsSkipped++, (id, theirs, ours) => pushed.covers(sender, id, theirs, ours));
        rememberSent(sender, message.docs, docs);
        return { type: "syncAnswer", docs };
      }
    }
  }

  /** Notes which documents our answer to `sender`'s round brings up to our version (see sent-states.ts). */
  function rememberSent(sender: string, asked: ReadonlyArray<{ id: string } & DocState>, answer: ReadonlyArray<{ id: string; diff?: Uint8Array } & DocState>): void {
    const theirs = new Map(asked.map((doc) => [doc.id, doc]));
    for (const doc of answer) {
      const told = theirs.get(doc.id);
      if (doc.state === "present" && doc.diff && told) answered.record(sender, doc.id, told, doc.version);
    }
  }

  function heartbeatTick(): void {
    for (const to of peerIds) {
      // A safety net: whatever stalled a queue (a lost timer, a clock jump), the next heartbeat restarts it.
      if (peer(to).queue.length > 0) void pump(to);
      const health = detector.health(to);
      if (health.lastHeardAt === undefined || clock.now() - health.lastHeardAt >= o.heartbeatMs) {
        void request(to, { type: "heartbeat" }).catch(() => undefined);
      }
    }
    later(o.heartbeatMs, heartbeatTick);
  }

  function antiEntropyTick(): void {
    const candidates = peerIds.filter((p) => detector.isUp(p));
    const to = candidates[random.int(candidates.length)];
    // A round already running with that peer (ours or its own with us) does this one's work.
    // In a region of several processes, one runs the rounds (the duty holder): the others' trees are the same store's.
    if (to && (o.runsRounds?.() ?? true) && !rounds.get(to)?.running && !peerRunsRound(to)) void antiEntropy(to).catch(() => undefined);
    later(o.antiEntropyIntervalMs * (0.5 + random.float()), antiEntropyTick);
  }

  return {
    tree,
    payloadBytes,
    regions: peerIds.length + 1,

    treeReady,

    async start() {
      replica.observe(onDurable);
      replica.observe(onApplied, { when: "applied" });
      // Errors reach whoever waits for the tree (a round); a closed replica just ends the build.
      treeReady().catch(() => undefined);
      replica.attachReplication(this);
      transport.serve((frame) => this.handle(frame));
      later(o.heartbeatMs, heartbeatTick);
      later(o.antiEntropyIntervalMs * (0.5 + random.float()), antiEntropyTick);
    },

    stop() {
      stopped = true;
      for (const cancel of timers) cancel();
      timers.clear();
      holders.releaseAll();
    },

    screen(prefix) {
      try {
        return channel.screen(prefix).sender;
      } catch (error) {
        o.onFrameRejected?.(rejectionOf(channel, prefix, error));
        throw error;
      }
    },

    refused(rejection) {
      channel.refused(rejection.peer, rejection.reason, rejection.message);
      o.onFrameRejected?.(rejection);
    },

    async handle(frame) {
      let opened;
      try {
        // Only requests are served: a response or refusal fed here is refused and counted, and changes nothing.
        opened = channel.open(frame, { expect: ["request"] });
      } catch (error) {
        const rejection = rejectionOf(channel, frame, error);
        o.onFrameRejected?.(rejection);
        return answerRefused(channel, frame, rejection);
      }
      const sender = opened.header.sender;
      // Hearing from a peer does not make it up: only our own requests answered do (we may be unable to reach
      // it, or it may refuse every frame we send). But a peer we hold down that talks to us is worth a probe now.
      if (!detector.isUp(sender)) probe(sender);
      let response: Response;
      try {
        response = await serve(sender, decodeRequest(opened.payload));
      } catch (error) {
        const code = isConcordError(error) ? error.code : "internal";
        response = { type: "refused", code, message: isConcordError(error) ? error.message : "internal error" };
      }
      return channel.seal(sender, "response", encodeResponse(response), opened.header.counter).frame;
    },

    antiEntropy,

    waitForReplicas: (localSeq, needed, timeoutMs) => holders.waitFor(localSeq, needed, timeoutMs),

    stats() {
      const byPeer: Record<string, PeerReplicationStats> = {};
      const rejected = channel.rejected();
      for (const to of peerIds) byPeer[to] = peerStats(peer(to), detector.health(to), rejected[to] ?? {}, clock.now());
      return {
        peers: byPeer, framesRejectedUnknown: rejected["?"] ?? {}, pending: { ...applier.stats }, documents: tree.size,
        // Documents left out of anti-entropy because they failed here (corrupt records, say), both as initiator and responder.
        docsSkipped,
      };
    },
  };
}
