/** What a document id may be: any non-empty text up to 512 UTF-8 bytes, without control characters. */
import { ConcordError } from "../errors.ts";

export const maxDocIdBytes = 512;
const encoder = new TextEncoder();

export function checkDocId(id: unknown): asserts id is string {
  if (typeof id !== "string" || id.length === 0) {
    throw new ConcordError("invalid_argument", "a document id is a non-empty string");
  }
  if (encoder.encode(id).length > maxDocIdBytes) {
    throw new ConcordError("invalid_argument", `a document id is at most ${maxDocIdBytes} bytes of UTF-8`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(id)) {
    throw new ConcordError("invalid_argument", "a document id contains no control characters");
  }
}
