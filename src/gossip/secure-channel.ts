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
 */
import { assert } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import { derivePairKey, type RegionKeyPair } from "./region-keys.ts";
import {
  compressedSince, decodeFrameBody, encodeFrameBody, frameError, openFrame, readHeader, sealFrame, supportedVersions,
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
   * The highest counter accepted from `peer`, told to it when it sends a frame
   * this side refuses as replayed (see skipPast). Undefined before its first.
   */
  highestSeen(peer: string): bigint | undefined;
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

export function createSecureChannel(options: ChannelOptions): SecureChannel {
  const maxFrameBytes = options.maxFrameBytes ?? 32 * 1024 * 1024;
  // 0 is "not heard yet" on the wire, and an epoch is the high half of a u64 counter.
  assert(Number.isInteger(options.epoch) && options.epoch >= 1 && options.epoch < 2 ** 32, `boot epoch ${options.epoch} is not in 1 .. 2^32-1`);
  const keys = new Map<string, Uint8Array>();
  for (const [peer, publicKey] of options.peers) keys.set(peer, derivePairKey(options.keyPair, publicKey));
  const windows = new Map<string, ReplayWindow>();
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
      const body = encodeFrameBody({ sender: options.epoch, receiver: epochs.get(peer) ?? 0 }, message);
      return { frame: sealFrame(header, body, key, options.random), counter };
    },
    screen: (prefix) => addressed(prefix).header,
    open(frame, openOptions = {}) {
      const { header, headerBytes, key } = addressed(frame);
      const { sender } = header;
      let window = windows.get(sender);
      if (!window) windows.set(sender, (window = createReplayWindow()));
      // Mark the counter only after every check passed: a forged frame must not burn a counter. A replay is
      // authenticated too before it is refused as one, because the refusal tells the sender how far to skip.
      const fresh = window.check(header.counter);
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
        opened = decodeFrameBody(body);
      } catch (error) {
        throw reject(sender, "truncated", (error as Error).message);
      }
      if (!fresh) throw reject(sender, "replayed", `a replayed or too old frame from "${sender}"`);
      const { expect, answers } = openOptions;
      if (expect && !expect.includes(header.kind)) {
        throw reject(sender, "unexpected", `a ${header.kind} frame from "${sender}" where a ${expect.join(" or ")} belongs`);
      }
      if (answers && (answers.peer !== sender || answers.counter !== header.replyTo)) {
        throw reject(sender, "unexpected", `a ${header.kind} from "${sender}" that does not answer our request ${answers.counter} to "${answers.peer}"`);
      }
      if (header.kind === "request" && opened.epochs.receiver !== options.epoch) {
        throw reject(sender, "stale_epoch", opened.epochs.receiver === 0
          ? `a request from "${sender}", which has not heard this region's epoch (${options.epoch}) yet`
          : `a request from "${sender}" made for epoch ${opened.epochs.receiver} of this region, which restarted since (epoch ${options.epoch}): replayed, or sent before it heard of the restart`);
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
      window.accept(header.counter);
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
    highestSeen(peer) {
      const highest = windows.get(peer)?.highest();
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
