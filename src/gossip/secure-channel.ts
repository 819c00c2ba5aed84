/**
 * Seals and opens frames between this region and its peers: pair keys,
 * per-pair counters, replay windows, boot epochs, version checks, and a count
 * of every rejected frame by peer and reason. No state changes on a rejected
 * frame.
 *
 * Counters are `epoch · 2^32 + n`, one sequence per peer: the epoch is a boot
 * epoch the replica persists (at least the boot's wall-clock second), so a
 * restarted or rebuilt region's frames are newer than all it sent before. Per
 * peer, because the receiver's replay window is 1,024 counters wide: with one
 * sequence shared by all peers, traffic to the others would push two frames to
 * one peer that arrive reordered out of each other's window.
 *
 * Replays, and why nothing is persisted per frame:
 * - Within one boot of the receiver, its replay window (in memory) accepts
 *   each counter once.
 * - Across restarts of the receiver, every request names the receiver's boot
 *   epoch as its sender last heard it, and the receiver accepts only its
 *   current one ("stale_epoch" otherwise). Its epoch is durable before the
 *   region serves and grows on every boot (DocStore.nextEpoch), so a request
 *   made for an earlier boot, however many were captured, is never accepted
 *   again. Persisting the window instead would need a durable write per
 *   accepted frame: frames accepted after the last write would be accepted
 *   again after a crash.
 * - Across restarts of the sender, its counters start in a new epoch: once
 *   the receiver has seen one, all older frames lie behind its window.
 * - Responses and refusals are bound to the one request they answer
 *   (`answers`): the requester's counters never repeat across its boots, so
 *   a captured answer answers nothing later.
 * A sender learns a peer's epoch only from frames of that peer it accepted
 * (authenticated, fresh): every body carries its sender's epoch. A request
 * with a stale epoch gets a sealed refusal, once its MAC passed, whose body
 * tells the sender the current epoch; the sender then sends it again.
 *
 * A region of several processes (PostgreSQL, one identity, one key pair; see
 * src/server/region-members.ts), from protocol version 4:
 * - Sending lanes. Each process draws its own boot epoch from one sequence in
 *   the region's database (a row updated atomically, never handed out
 *   twice), and its counters are `epoch · 2^32 + n` as before: the counter's
 *   high half is the process's lane, and no two processes share one. A
 *   receiver on version 4 keeps a replay window per (sender, lane), at most
 *   `maxLanesPerSender` of them, the least recently used dropped first.
 *   Every version 4 body also carries the sender's lane floor: the oldest
 *   lane any of its live processes sends in (a region of one process: its
 *   own epoch). The receiver keeps the highest floor it was told per sender
 *   and refuses frames of older lanes as replayed, so frames captured before
 *   a sender's restart stay refused once it is back, as with one window.
 *   A "replayed" refusal reports the highest counter of the refused frame's
 *   lane, so skipPast stays inside the sender's own lane; below the floor,
 *   the highest of all lanes (a second process on one data directory that
 *   drew a newer epoch: the older one skips past it, as before lanes).
 *   Frames of version 2 and 3 keep the single window per sender, so a
 *   region talking to an older one behaves as before.
 * - A shared receiver epoch. Frames announce the region's epoch (the
 *   highest any of its processes drew, `regionEpoch`), and a process accepts
 *   a request naming any epoch from its own boot epoch on: every such epoch
 *   was drawn after this process booted, so the request was made after its
 *   windows started, and a request captured before it booted names an older
 *   one and stays refused ("stale_epoch"). A peer whose request lands, through
 *   the load balancer, on any process of the region is accepted.
 * - What a replay can still do: each process's windows are its own, in
 *   memory, so a request accepted by process 1 and replayed to process 2 of
 *   the same region (within both their boots) is accepted once more; so is a
 *   frame of a lane whose window was dropped (more than maxLanesPerSender
 *   lanes of one sender since). We argue this is harmless rather than close
 *   it with a shared record of accepted counters (a database write per
 *   frame): a request only pushes deltas (CRDT updates: applying one again
 *   changes nothing), asks for digests or states (read-only), or probes; its
 *   answer is sealed to the sender's counter, and the sender, which is not
 *   waiting for it, refuses it. Responses and refusals are bound to the
 *   request they answer, which only the process that sent it is waiting for.
 * - Mixed versions: a peer that speaks only 2 or 3 keeps one window for the
 *   whole region and refuses a second process's lane as replayed. Upgrade
 *   every peer to version 4 before running a region as several processes.
 */
import { assert } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import { derivePairKey, type RegionKeyPair } from "./region-keys.ts";
import {
  compressedSince, decodeFrameBody, encodeFrameBody, frameError, lanesSince, openFrame, readHeader, sealFrame, supportedVersions,
  type FrameEpochs, type FrameHeader, type FrameKind, type FrameRejection,
} from "./frame.ts";
import { compressMessage, decompressMessage } from "./frame-compression.ts";
import { createReplayWindow, type ReplayWindow } from "./replay-window.ts";

export interface ChannelOptions {
  self: string;
  keyPair: RegionKeyPair;
  /** Peer id → its X25519 public key, from the topology. */
  peers: ReadonlyMap<string, Uint8Array>;
  /**
   * This region's boot epoch: grows on every restart and is durable before
   * the first frame (the caller persists it: DocStore.nextEpoch). 1 .. 2^32-1.
   */
  epoch: number;
  random: Random;
  /** Largest frame accepted or sent, and largest message a compressed one inflates to. Default 32 MiB. */
  maxFrameBytes?: number;
  /** Compress large messages to peers speaking version 3 (see frame-compression.ts). Default true. */
  compress?: boolean;
  /** Protocol versions spoken, oldest first. Default: all this build speaks (tests play older regions with less). */
  versions?: readonly number[];
  /**
   * A region of several processes: the region's epoch (the highest boot epoch any of its processes drew),
   * which frames announce; requests naming any epoch from `epoch` on are accepted (see the file header).
   * Unset (a region of one process): frames announce `epoch` and requests must name exactly it.
   */
  regionEpoch?: () => number;
  /**
   * A region of several processes: the oldest lane (boot epoch) any of its live processes sends in (at most
   * `epoch`); version 4 frames tell it to the peers, which refuse frames of older lanes as replayed. Default
   * `epoch`: a region of one process has one lane, and its frames from earlier boots are refused.
   */
  laneFloor?: () => number;
}

export interface OpenedFrame {
  header: FrameHeader;
  epochs: FrameEpochs;
  /** The message (the body after the epochs). */
  payload: Uint8Array;
}

export interface OpenOptions {
  /** Kinds the caller takes; another kind is refused ("unexpected") after authentication. */
  expect?: readonly FrameKind[];
  /** The request an answer must answer: from `peer`, replying to `counter` ("unexpected" otherwise). */
  answers?: { peer: string; counter: bigint };
}

export interface SecureChannel {
  /**
   * `version`: the protocol version to seal in (a refusal answers in the refused frame's own); default
   * peerVersion(peer).
   */
  seal(peer: string, kind: FrameKind, payload: Uint8Array, replyTo?: bigint, version?: number): { frame: Uint8Array; counter: bigint };
  /**
   * Opens a frame addressed to this region. Throws ConcordError
   * "bad_frame"/"unknown_peer" (counted): forged ("bad_mac"), replayed,
   * a request for another boot of this region ("stale_epoch"), or, with
   * `options`, of a kind the caller does not take or not the answer it
   * waits for ("unexpected"). Every refusal after authentication leaves the
   * counter unmarked. An accepted frame teaches the channel its sender's
   * epoch, which the next frames to that peer name.
   */
  open(frame: Uint8Array, options?: OpenOptions): OpenedFrame;
  /** The epoch `peer` last told us (0 before it told us any). */
  peerEpoch(peer: string): number;
  /**
   * The protocol version frames to `peer` use: the highest version of the
   * frames accepted from its current boot (a new boot starts over: it may run
   * other code), or before any, the newest this region speaks. Only stepDown
   * lowers it within a boot.
   */
  peerVersion(peer: string): number;
  /**
   * Moves frames to `peer` to the next older version this region speaks,
   * after `peer` refused ours as unsupported (an authenticated refusal only).
   * Returns whether there was one to move to.
   */
  stepDown(peer: string): boolean;
  /**
   * The highest counter accepted from `peer` (in the window `frame` falls in: its lane from
   * version 4 on; without `frame`, in any), told to it when it sends a frame this side refuses as replayed
   * (see skipPast). Undefined before its first.
   */
  highestSeen(peer: string, frame?: { version: number; counter: bigint }): bigint | undefined;
  /**
   * Moves the counters sent to `peer` past `counter`, the highest it says it
   * saw, when our frames are refused as replayed: another process on our data
   * directory used our counters, or a restore or clock step reused an epoch.
   * Only forward, and only as far as counters that were really sent (the peer
   * saw them): whoever forces a skip can never push us further than that.
   * Call it only with a counter from an authenticated refusal. Returns whether
   * the counter moved.
   */
  skipPast(peer: string, counter: bigint): boolean;
  /**
   * Screens the first bytes of a frame still arriving (at least `screenBytes`,
   * or the whole frame if shorter): the same header checks as `open` (magic,
   * kind, a sender in the topology, this region as receiver), so a frame from
   * a non-peer is refused, and counted, before its body is read. Returns the
   * claimed header: claimed only, nothing is authenticated yet.
   */
  screen(prefix: Uint8Array): FrameHeader;
  /**
   * Counts a frame refused before it could be opened (its body over the size
   * limit, say, refused by the HTTP route while it was still arriving). Returns
   * the error to answer with.
   */
  refused(peer: string, reason: FrameRejection, message: string): Error;
  /** Rejected frames: peer (or "?" when unknown) → reason → count. */
  rejected(): Record<string, Partial<Record<FrameRejection, number>>>;
  readonly maxFrameBytes: number;
}

const maxCounter = (1n << 64n) - (1n << 32n);
/** Lanes (processes, boots) of one sender whose replay windows a receiver keeps at once. */
export const maxLanesPerSender = 16;

/** The replay windows of one sender: one (lane "") before version 4, else one per lane, least recently used first. */
function windowKey(version: number, counter: bigint): string {
  return version >= lanesSince ? String(counter >> 32n) : "";
}

export function createSecureChannel(options: ChannelOptions): SecureChannel {
  const maxFrameBytes = options.maxFrameBytes ?? 32 * 1024 * 1024;
  // 0 is "not heard yet" on the wire, and an epoch is the high half of a u64 counter.
  assert(Number.isInteger(options.epoch) && options.epoch >= 1 && options.epoch < 2 ** 32, `boot epoch ${options.epoch} is not in 1 .. 2^32-1`);
  const keys = new Map<string, Uint8Array>();
  for (const [peer, publicKey] of options.peers) keys.set(peer, derivePairKey(options.keyPair, publicKey));
  const windows = new Map<string, Map<string, ReplayWindow>>();
  /** Per sender (version 4 on): the highest lane floor it told us; frames of older lanes are refused. */
  const floors = new Map<string, number>();
  const belowFloor = (sender: string, version: number, counter: bigint) =>
    version >= lanesSince && counter >> 32n < BigInt(floors.get(sender) ?? 0);
  /** The window a frame of `sender` falls in, if it has one yet (nothing is created or dropped). */
  const peekWindow = (sender: string, version: number, counter: bigint) => windows.get(sender)?.get(windowKey(version, counter));
  /** The window of an accepted frame: created (the least recently used lane dropped) if new, and now the most recent. */
  const windowOf = (sender: string, version: number, counter: bigint): ReplayWindow => {
    let lanes = windows.get(sender);
    if (!lanes) windows.set(sender, (lanes = new Map()));
    const key = windowKey(version, counter);
    let window = lanes.get(key);
    if (window) {
      lanes.delete(key); // re-inserted below: a Map iterates in insertion order, so the first is the least recent
    } else {
      window = createReplayWindow();
      if (lanes.size >= maxLanesPerSender) lanes.delete(lanes.keys().next().value!);
    }
    lanes.set(key, window);
    return window;
  };
  const announced = () => options.regionEpoch?.() ?? options.epoch;
  const laneFloor = () => Math.min(options.laneFloor?.() ?? options.epoch, options.epoch);
  /** Whether a request naming `epoch` as ours was made for this boot (see the file header). */
  const currentEpoch = (epoch: number) => (options.regionEpoch ? epoch >= options.epoch : epoch === options.epoch);
  const rejections: Record<string, Partial<Record<FrameRejection, number>>> = {};
  const first = BigInt(options.epoch) << 32n;
  const sent = new Map<string, bigint>();
  /** Each peer's boot epoch, from the last frame of it we accepted. */
  const epochs = new Map<string, number>();
  const versions = options.versions ?? supportedVersions;
  const newest = Math.max(...versions);
  const compress = options.compress ?? true;
  /** Per peer: the protocol version its frames get, and the boot of it that version was learned from. */
  const peerVersions = new Map<string, { epoch: number; version: number }>();
  const peerVersion = (peer: string) => peerVersions.get(peer)?.version ?? newest;

  const reject = (peer: string, reason: FrameRejection, message: string) => {
    const counts = (rejections[peer] ??= {});
    counts[reason] = (counts[reason] ?? 0) + 1;
    return frameError(reason, message);
  };

  /** The clear header of a frame from a known peer to this region, with that peer's key; counted rejections otherwise. */
  const addressed = (frame: Uint8Array) => {
    let parsed: ReturnType<typeof readHeader>;
    try {
      parsed = readHeader(frame, maxFrameBytes);
    } catch (error) {
      const reason = ((error as { details?: { reason?: FrameRejection } }).details?.reason ?? "truncated");
      throw reject("?", reason, (error as Error).message);
    }
    const { header, headerBytes } = parsed;
    const key = keys.get(header.sender);
    if (!key) throw reject("?", "unknown_sender", `a frame from "${header.sender}", which is not in the topology`);
    if (header.receiver !== options.self) {
      throw reject(header.sender, "wrong_receiver", `a frame for "${header.receiver}" reached "${options.self}"`);
    }
    return { header, headerBytes, key };
  };

  return {
    maxFrameBytes,
    seal(peer, kind, payload, replyTo = 0n, sealVersion) {
      const key = keys.get(peer);
      if (!key) throw frameError("unknown_sender", `region "${peer}" is not in the topology`);
      const counter = (sent.get(peer) ?? first) + 1n;
      sent.set(peer, counter);
      const version = sealVersion !== undefined && versions.includes(sealVersion) ? sealVersion : peerVersion(peer);
      const header: FrameHeader = { version, kind, sender: options.self, receiver: peer, counter, replyTo };
      const message = version >= compressedSince ? compressMessage(payload, compress) : payload;
      const body = encodeFrameBody({ sender: announced(), receiver: epochs.get(peer) ?? 0, floor: laneFloor() }, message, version);
      return { frame: sealFrame(header, body, key, options.random), counter };
    },
    screen: (prefix) => addressed(prefix).header,
    open(frame, openOptions = {}) {
      const { header, headerBytes, key } = addressed(frame);
      const { sender } = header;
      let body: Uint8Array;
      try {
        body = openFrame(frame, headerBytes, key);
      } catch (error) {
        throw reject(sender, "bad_mac", (error as Error).message);
      }
      // A version is judged only once the MAC passed (newer versions keep this header and AEAD layout for
      // that): an authentic newer peer gets a sealed refusal listing our versions, a forgery gets nothing.
      if (!versions.includes(header.version)) {
        throw reject(sender, "unsupported_version", `protocol version ${header.version} is not supported (this region speaks ${versions.join(", ")})`);
      }
      let opened: ReturnType<typeof decodeFrameBody>;
      try {
        opened = decodeFrameBody(body, header.version);
      } catch (error) {
        throw reject(sender, "truncated", (error as Error).message);
      }
      // A replay is authenticated too before it is refused as one, because the refusal tells the sender how
      // far to skip. The counter is marked only after every check passed: a refused frame burns none.
      const fresh = !belowFloor(sender, header.version, header.counter) && (peekWindow(sender, header.version, header.counter)?.check(header.counter) ?? true);
      if (!fresh) throw reject(sender, "replayed", `a replayed or too old frame from "${sender}"`);
      const { expect, answers } = openOptions;
      if (expect && !expect.includes(header.kind)) {
        throw reject(sender, "unexpected", `a ${header.kind} frame from "${sender}" where a ${expect.join(" or ")} belongs`);
      }
      if (answers && (answers.peer !== sender || answers.counter !== header.replyTo)) {
        throw reject(sender, "unexpected", `a ${header.kind} from "${sender}" that does not answer our request ${answers.counter} to "${answers.peer}"`);
      }
      if (header.kind === "request" && !currentEpoch(opened.epochs.receiver)) {
        throw reject(sender, "stale_epoch", opened.epochs.receiver === 0
          ? `a request from "${sender}", which has not heard this region's epoch (${announced()}) yet`
          : `a request from "${sender}" made for epoch ${opened.epochs.receiver} of this region, which restarted since (epoch ${announced()}): replayed, or sent before it heard of the restart`);
      }
      // Inflated last, once nothing else refuses the frame: a replay costs no inflating.
      let payload = opened.message;
      if (header.version >= compressedSince) {
        try {
          payload = decompressMessage(payload, maxFrameBytes);
        } catch (error) {
          throw reject(sender, (error as { details?: { reason?: FrameRejection } }).details?.reason ?? "unexpected", (error as Error).message);
        }
      }
      windowOf(sender, header.version, header.counter).accept(header.counter);
      if (opened.epochs.floor !== undefined && opened.epochs.floor > (floors.get(sender) ?? 0)) {
        floors.set(sender, opened.epochs.floor);
        // Lanes below the floor are refused from now on: their windows can go.
        const lanes = windows.get(sender)!;
        for (const lane of [...lanes.keys()]) if (lane !== "" && BigInt(lane) < BigInt(opened.epochs.floor)) lanes.delete(lane);
      }
      // The last one heard, as before lanes (a restored peer's epoch may be lower than the one before). The
      // processes of a peer of several may announce its epoch a heartbeat apart for a second after one joins:
      // a request naming the older one that lands on the newer process is refused stale_epoch and sent again.
      epochs.set(sender, opened.epochs.sender);
      const known = peerVersions.get(sender);
      const sameBoot = known?.epoch === opened.epochs.sender;
      peerVersions.set(sender, { epoch: opened.epochs.sender, version: sameBoot ? Math.max(known.version, header.version) : header.version });
      return { header, epochs: opened.epochs, payload };
    },
    peerEpoch: (peer) => epochs.get(peer) ?? 0,
    peerVersion,
    stepDown(peer) {
      const older = versions.filter((v) => v < peerVersion(peer));
      if (older.length === 0) return false;
      peerVersions.set(peer, { epoch: epochs.get(peer) ?? 0, version: Math.max(...older) });
      return true;
    },
    highestSeen(peer, frame) {
      // A frame below the sender's floor is told the highest counter of any lane: it can only move on by
      // skipping past all of them (a second process on its store used a newer epoch, as before lanes).
      const all = !frame || belowFloor(peer, frame.version, frame.counter);
      const lanes = [...(windows.get(peer)?.entries() ?? [])].filter(([key]) => all || key === windowKey(frame.version, frame.counter));
      const highest = lanes.reduce<bigint | undefined>((top, [, w]) => (top === undefined || w.highest() > top ? w.highest() : top), undefined);
      return highest === undefined || highest < 0n ? undefined : highest;
    },
    skipPast(peer, counter) {
      const current = sent.get(peer) ?? first;
      // The top epoch stays free: a counter there would leave no room to move on.
      if (!keys.has(peer) || counter <= current || counter >= maxCounter) return false;
      sent.set(peer, counter);
      return true;
    },
    refused: (peer, reason, message) => reject(peer, reason, message),
    rejected: () => structuredClone(rejections),
  };
}
