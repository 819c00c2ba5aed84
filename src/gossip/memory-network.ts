/**
 * An in-memory network of transports for tests: seeded loss, cut links and
 * isolated regions, a hook to tamper with frames, and a capture of every frame
 * (to check that nothing readable crosses the wire). Deliveries happen on
 * microtasks, or after `latencyMs` on the injected clock.
 */
import { ConcordError } from "../errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Random } from "../runtime/random.ts";
import type { Transport } from "./transport.ts";

export interface MemoryNetworkOptions {
  random: Random;
  /** With a clock, each leg of a request takes `latencyMs`; without, a microtask. */
  clock?: Clock;
  latencyMs?: number;
  /** Probability that a request or a response is lost. */
  loss?: number;
  /** Keep a copy of every frame sent (for at-rest/on-wire greps). */
  capture?: boolean;
}

export interface MemoryNetwork {
  transport(region: string): Transport;
  /** Cuts the link between a and b, both directions. */
  cut(a: string, b: string): void;
  /** Cuts every link of `region`. */
  isolate(region: string): void;
  /** Restores every link. */
  heal(): void;
  setLoss(probability: number): void;
  /** Rewrites (or, returning undefined, drops) frames in flight. */
  intercept(hook: ((from: string, to: string, frame: Uint8Array) => Uint8Array | undefined) | undefined): void;
  readonly captured: Uint8Array[];
  readonly stats: { requests: number; delivered: number; lost: number; bytes: number };
}

export function createMemoryNetwork(options: MemoryNetworkOptions): MemoryNetwork {
  const handlers = new Map<string, (frame: Uint8Array) => Promise<Uint8Array>>();
  const cutLinks = new Set<string>();
  const isolated = new Set<string>();
  let loss = options.loss ?? 0;
  let hook: ((from: string, to: string, frame: Uint8Array) => Uint8Array | undefined) | undefined;
  const captured: Uint8Array[] = [];
  const stats = { requests: 0, delivered: 0, lost: 0, bytes: 0 };
  const link = (a: string, b: string) => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`);
  const down = (a: string, b: string) => isolated.has(a) || isolated.has(b) || cutLinks.has(link(a, b));
  const unavailable = (from: string, to: string) => new ConcordError("unavailable", `${to} is unreachable from ${from}`);
  const leg = () =>
    options.clock && options.latencyMs
      ? new Promise<void>((resolve) => options.clock!.timer(options.latencyMs!, resolve))
      : Promise.resolve();

  const carry = (from: string, to: string, frame: Uint8Array): Uint8Array | undefined => {
    stats.bytes += frame.length;
    if (options.capture) captured.push(frame.slice());
    if (down(from, to) || (loss > 0 && options.random.float() < loss)) {
      stats.lost++;
      return undefined;
    }
    return hook ? hook(from, to, frame) : frame;
  };

  return {
    transport(region) {
      return {
        serve(handler) {
          handlers.set(region, handler);
        },
        async send(peer, frame) {
          stats.requests++;
          await leg();
          const request = carry(region, peer, frame);
          const handler = handlers.get(peer);
          if (!request || !handler) throw unavailable(region, peer);
          const response = await handler(request);
          await leg();
          const delivered = carry(peer, region, response);
          if (!delivered) throw unavailable(region, peer);
          stats.delivered++;
          return delivered;
        },
      };
    },
    cut: (a, b) => void cutLinks.add(link(a, b)),
    isolate: (region) => void isolated.add(region),
    heal() {
      cutLinks.clear();
      isolated.clear();
    },
    setLoss(probability) {
      loss = probability;
    },
    intercept(next) {
      hook = next;
    },
    captured,
    stats,
  };
}
