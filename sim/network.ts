/**
 * The simulated network: one Transport per region process, request/response
 * with a latency on each leg from the topology's matrix, plus jitter, loss,
 * duplication, reordering (extra random delay), a bandwidth limit per directed
 * link (serialization delay), and partitions as a set of blocked directed
 * links. A lost request or response makes the sender's send() reject with
 * ConcordError("unavailable") after `timeoutMs` of virtual time, like a real
 * RPC timeout. A crashed process sends nothing and hears nothing.
 */
import { ConcordError } from "../src/errors.ts";
import type { Transport } from "../src/gossip/transport.ts";
import type { Random } from "../src/runtime/random.ts";
import type { Life, Scheduler } from "./scheduler.ts";
import type { Trace } from "./trace.ts";

export interface LinkConditions {
  /** Probability that one leg (request or response) is lost. */
  loss: number;
  /** Probability that a request is delivered twice. */
  duplicate: number;
  /** Uniform extra delay per leg, 0..jitterMs. */
  jitterMs: number;
  /** Further uniform delay up to this, on a random quarter of legs: reorders messages. */
  reorderMs: number;
}

export interface NetworkOptions {
  scheduler: Scheduler;
  random: Random;
  trace: Trace;
  regions: readonly string[];
  /** One-way latency between two regions, ms. */
  latencyMs: (a: string, b: string) => number;
  /** How long a sender waits for a response. */
  timeoutMs: number;
  /** Bytes per millisecond per directed link; Infinity for no limit. */
  bandwidthBytesPerMs: number;
  conditions: LinkConditions;
}

export interface SimNetwork {
  /** The Transport of one process incarnation of `region`. */
  attach(region: string, life: Life): Transport;
  block(from: string, to: string): void;
  unblock(from: string, to: string): void;
  /** Unblocks every link. */
  healAll(): void;
  isBlocked(from: string, to: string): boolean;
  /** Directed links currently blocked, as "from>to". */
  blocked(): string[];
  setConditions(conditions: Partial<LinkConditions>): void;
  readonly conditions: LinkConditions;
  readonly stats: { messages: number; bytes: number; lost: number; duplicated: number; timeouts: number };
}

export function createSimNetwork(options: NetworkOptions): SimNetwork {
  const { scheduler, random, trace } = options;
  const index = new Map(options.regions.map((r, i) => [r, i]));
  const handlers = new Map<string, { life: Life; handler: (frame: Uint8Array) => Promise<Uint8Array> }>();
  const blockedLinks = new Set<string>();
  const busyUntil = new Map<string, number>();
  const conditions: LinkConditions = { ...options.conditions };
  const stats = { messages: 0, bytes: 0, lost: 0, duplicated: 0, timeouts: 0 };
  const key = (from: string, to: string) => `${from}>${to}`;
  const id = (region: string) => index.get(region) ?? -1;

  /** Schedules one leg's arrival, or returns false when it is lost. */
  function leg(from: string, to: string, bytes: number, arrive: () => void): boolean {
    stats.messages++;
    stats.bytes += bytes;
    if (blockedLinks.has(key(from, to)) || (conditions.loss > 0 && random.float() < conditions.loss)) {
      stats.lost++;
      trace.event("lost", id(from), id(to), bytes);
      return false;
    }
    const link = key(from, to);
    const start = Math.max(scheduler.now(), busyUntil.get(link) ?? 0);
    const done = start + (Number.isFinite(options.bandwidthBytesPerMs) ? bytes / options.bandwidthBytesPerMs : 0);
    busyUntil.set(link, done);
    const delay = () => {
      let ms = done - scheduler.now() + options.latencyMs(from, to) + random.float() * conditions.jitterMs;
      if (conditions.reorderMs > 0 && random.float() < 0.25) ms += random.float() * conditions.reorderMs;
      return ms;
    };
    trace.event("send", id(from), id(to), bytes);
    scheduler.after(delay(), arrive, to);
    if (conditions.duplicate > 0 && random.float() < conditions.duplicate) {
      stats.duplicated++;
      trace.event("duplicate", id(from), id(to), bytes);
      scheduler.after(delay(), arrive, to);
    }
    return true;
  }

  return {
    attach(region, life) {
      return {
        serve(handler) {
          handlers.set(region, { life, handler });
        },
        send(peer, frame) {
          // A dead process cannot send, and nothing it was waiting for runs again.
          if (!life.alive) return new Promise<Uint8Array>(() => undefined);
          return new Promise<Uint8Array>((resolve, reject) => {
            let settled = false;
            const cancelTimeout = scheduler.after(options.timeoutMs, () => {
              if (settled || !life.alive) return;
              settled = true;
              stats.timeouts++;
              trace.event("timeout", id(region), id(peer));
              reject(new ConcordError("unavailable", `${peer} did not answer ${region} in time`));
            }, region);
            const deliver = () => {
              const target = handlers.get(peer);
              if (!target || !target.life.alive) return; // crashed: the sender times out
              trace.event("deliver", id(peer), id(region), frame.length);
              void target.handler(frame).then((response) => {
                if (!target.life.alive) return;
                trace.event("respond", id(peer), id(region), response.length);
                leg(peer, region, response.length, () => {
                  if (settled || !life.alive) return;
                  settled = true;
                  cancelTimeout();
                  resolve(response);
                });
              }, () => undefined);
            };
            leg(region, peer, frame.length, deliver);
          });
        },
      };
    },
    block: (from, to) => void blockedLinks.add(key(from, to)),
    unblock: (from, to) => void blockedLinks.delete(key(from, to)),
    healAll: () => blockedLinks.clear(),
    isBlocked: (from, to) => blockedLinks.has(key(from, to)),
    blocked: () => [...blockedLinks].sort(),
    setConditions(next) {
      Object.assign(conditions, next);
    },
    conditions,
    stats,
  };
}
