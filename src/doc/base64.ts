/**
 * Standard base64 (RFC 4648, with padding) without Node's Buffer or the
 * browser's btoa, so src/doc bundles anywhere and handles any size.
 */
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** `bytes` as base64 text. */
export function encodeBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const a = bytes[i]!;
    const b = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    const c = i + 2 < bytes.length ? bytes[i + 2]! : 0;
    chunk += alphabet[a >> 2]! + alphabet[((a & 3) << 4) | (b >> 4)]!;
    chunk += i + 1 < bytes.length ? alphabet[((b & 15) << 2) | (c >> 6)]! : "=";
    chunk += i + 2 < bytes.length ? alphabet[c & 63]! : "=";
    // Flush now and then: repeated += on one huge string is slow in some engines.
    if (chunk.length >= 8192) {
      parts.push(chunk);
      chunk = "";
    }
  }
  parts.push(chunk);
  return parts.join("");
}
