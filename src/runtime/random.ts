/**
 * Randomness, injected. In production it is the platform CSPRNG (it makes data
 * keys and nonces); in the simulator and tests it is seeded, so a run replays.
 */
export interface Random {
  /** Uniform in [0, 1). */
  float(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** `n` random bytes. */
  bytes(n: number): Uint8Array;
}

// Small draws (nonces, ids) come from a pool refilled 4 KiB at a time: one
// getRandomValues call per draw costs more than the sealing it feeds.
const poolBytes = 4096;
let pool = new Uint8Array(0);
let poolAt = 0;

function fill(out: Uint8Array): void {
  // getRandomValues fills at most 65536 bytes per call.
  for (let i = 0; i < out.length; i += 65536) globalThis.crypto.getRandomValues(out.subarray(i, Math.min(out.length, i + 65536)));
}

/** The Web Crypto CSPRNG, available in Node 20 and every browser. */
export const systemRandom: Random = {
  float: () => {
    const b = systemRandom.bytes(8);
    // 53 random bits, like Math.random but from the CSPRNG.
    const high = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 5;
    const low = ((b[4]! << 24) | (b[5]! << 16) | (b[6]! << 8) | b[7]!) >>> 6;
    return (high * 67108864 + low) / 9007199254740992;
  },
  int: (n) => Math.floor(systemRandom.float() * n),
  bytes: (n) => {
    const out = new Uint8Array(n);
    if (n > 256) {
      fill(out);
      return out;
    }
    if (poolAt + n > pool.length) {
      pool = new Uint8Array(poolBytes);
      fill(pool);
      poolAt = 0;
    }
    out.set(pool.subarray(poolAt, poolAt + n));
    // Each byte is handed out once; wipe it so the pool never holds what was given away.
    pool.fill(0, poolAt, poolAt + n);
    poolAt += n;
    return out;
  },
};

/**
 * A fast seeded generator (sfc32, seeded through splitmix32). Not for keys in
 * production: only where a run must be reproducible from its seed.
 */
export function createSeededRandom(seed: number): Random {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix(), b = splitmix(), c = splitmix(), d = splitmix();
  const next = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) next();
  const random: Random = {
    float: () => next() / 4294967296,
    int: (n) => Math.floor((next() / 4294967296) * n),
    bytes: (n) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i += 4) {
        const word = next();
        for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (word >>> (8 * j)) & 0xff;
      }
      return out;
    },
  };
  return random;
}
