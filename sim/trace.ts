/**
 * The trace hash: every simulated event (its time, type, region, sizes and
 * results) folded into a 64-bit hash as it happens. Two runs with the same
 * seed and options must end with the same hash, bit for bit; the first event
 * where they differ is where nondeterminism crept in.
 */

/** Event type codes folded into the hash (stable: changing one changes every hash). */
export const traceCodes = {
  send: 1, deliver: 2, lost: 3, duplicate: 4, respond: 5, timeout: 6,
  write: 10, ack: 11, writeFailed: 12,
  nemesis: 20, crash: 21, restart: 22, sample: 30, check: 40,
} as const;

export type TraceCode = keyof typeof traceCodes;

export interface Trace {
  /** Folds one event into the hash. `values` are integers (time, sizes, counts). */
  event(type: TraceCode, region: number, ...values: number[]): void;
  /** Folds a string (a version, a final JSON) into the hash. */
  text(value: string): void;
  readonly events: number;
  /** The hash as 16 hex digits. */
  hash(): string;
}

export function createTrace(): Trace {
  // Two independent 32-bit FNV-1a style lanes: cheap, and 64 bits keep collisions out of sweeps.
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x9e3779b9;
  let events = 0;
  const mix = (x: number): void => {
    const lo = x | 0;
    const hi = Math.floor(x / 4294967296) | 0;
    a = Math.imul(a ^ lo, 0x01000193);
    a = Math.imul(a ^ hi, 0x01000193);
    b = Math.imul(b ^ lo, 0x5bd1e995);
    b ^= b >>> 15;
    b = Math.imul(b ^ hi, 0x5bd1e995);
  };
  return {
    event(type, region, ...values) {
      events++;
      mix(traceCodes[type]);
      mix(region);
      for (const v of values) mix(Math.round(v * 1000));
    },
    text(value) {
      for (let i = 0; i < value.length; i++) mix(value.charCodeAt(i));
      mix(value.length);
    },
    get events() {
      return events;
    },
    hash: () => (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0"),
  };
}

/** A sub-seed for one component, derived from the run's seed and the component's name. */
export function deriveSeed(seed: number, name: string): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}
