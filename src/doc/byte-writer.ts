/**
 * A small growable writer for lib0-style unsigned varints, used to encode
 * versions. Writes the minimal encoding, so equal numbers give equal bytes.
 */
/** Appends varints to a growing buffer; finish() returns the bytes. */
export class ByteWriter {
  private buf = new Uint8Array(64);
  private len = 0;

  varUint(value: number): void {
    let num = value;
    this.reserve(8);
    while (num > 0x7f) {
      this.buf[this.len++] = 0x80 | (num % 128);
      num = Math.floor(num / 128);
    }
    this.buf[this.len++] = num;
  }

  /** A copy of what was written. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}
