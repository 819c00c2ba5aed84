import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { recordAad } from "../../src/crypto/aad.ts";
import { keyedHash } from "../../src/crypto/keyed-hash.ts";
import { open, seal, sealOverheadBytes } from "../../src/crypto/seal.ts";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { isConcordError } from "../../src/errors.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";

beforeAll(async () => {
  await loadSodium();
});

const random = createSeededRandom(7);
const key = random.bytes(32);
const hash = random.bytes(16);

describe("seal", () => {
  it("round-trips any plaintext under its associated data", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.nat(1_000_000), (plain, seq) => {
        const aad = recordAad("log", hash, seq);
        const sealed = seal(key, plain, aad, random);
        expect(sealed.length).toBe(plain.length + sealOverheadBytes);
        expect(open(key, sealed, aad)).toEqual(plain);
      }),
      { numRuns: 300 },
    );
  });

  it("detects any single flipped bit", () => {
    const aad = recordAad("snapshot", hash, 3);
    const sealed = seal(key, new TextEncoder().encode("the quick brown fox"), aad, random);
    fc.assert(
      fc.property(fc.nat(sealed.length * 8 - 1), (bit) => {
        const tampered = sealed.slice();
        tampered[bit >> 3]! ^= 1 << (bit & 7);
        expect(() => open(key, tampered, aad)).toThrow(expect.objectContaining({ code: "corrupt_record" }));
      }),
      { numRuns: 400 },
    );
  });

  it("refuses a record moved to another document, kind or sequence", () => {
    const sealed = seal(key, new Uint8Array([1, 2, 3]), recordAad("log", hash, 5), random);
    const otherHash = hash.slice();
    otherHash[0]! ^= 1;
    for (const aad of [recordAad("log", otherHash, 5), recordAad("snapshot", hash, 5), recordAad("log", hash, 4)]) {
      let error: unknown;
      try {
        open(key, sealed, aad);
      } catch (e) {
        error = e;
      }
      expect(isConcordError(error, "corrupt_record")).toBe(true);
    }
  });

  it("refuses a record sealed under another key", () => {
    const aad = recordAad("meta", hash);
    const sealed = seal(key, new Uint8Array([9]), aad, random);
    expect(() => open(random.bytes(32), sealed, aad)).toThrow(expect.objectContaining({ code: "corrupt_record" }));
  });

  it("refuses truncated records of every length", () => {
    const aad = recordAad("meta", hash);
    const sealed = seal(key, new Uint8Array(40), aad, random);
    for (let length = 0; length < sealed.length; length++) {
      expect(() => open(key, sealed.subarray(0, length), aad)).toThrow(expect.objectContaining({ code: "corrupt_record" }));
    }
  });

  it("never repeats a nonce from the system CSPRNG-shaped generator", () => {
    const seen = new Set<string>();
    const aad = recordAad("log", hash, 1);
    for (let i = 0; i < 2000; i++) seen.add(Buffer.from(seal(key, new Uint8Array(0), aad, random).subarray(1, 25)).toString("hex"));
    expect(seen.size).toBe(2000);
  });
});

describe("keyedHash", () => {
  it("depends on the key, so storage keys reveal nothing without it", () => {
    const a = keyedHash(random.bytes(32), "notes", 16);
    const b = keyedHash(random.bytes(32), "notes", 16);
    expect(a).not.toEqual(b);
    expect(a.length).toBe(16);
  });
});
