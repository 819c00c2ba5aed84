/**
 * Hand-built Yjs V1 update bytes for hostile-input tests: the shapes Yjs's own
 * encoder never writes (forward references, cycles, duplicate clients, huge
 * counts) but a broken or hostile peer can send.
 */
const encoder = new TextEncoder();

export class Wire {
  private readonly out: number[] = [];

  u8(byte: number): this {
    this.out.push(byte);
    return this;
  }

  varUint(value: number): this {
    let n = value;
    while (n > 0x7f) {
      this.out.push(0x80 | n % 128);
      n = Math.floor(n / 128);
    }
    this.out.push(n);
    return this;
  }

  string(text: string): this {
    const bytes = encoder.encode(text);
    this.varUint(bytes.length);
    for (const b of bytes) this.out.push(b);
    return this;
  }

  bytes(): Uint8Array {
    return new Uint8Array(this.out);
  }
}

export interface ItemSpec {
  origin?: [client: number, clock: number];
  right?: [client: number, clock: number];
  /** Root type name, used when there is neither origin nor right. */
  root?: string;
  /** Parent item id, used when there is neither origin nor right nor root. */
  parent?: [client: number, clock: number];
  text: string;
}

/** Writes a string item (content ref 4). */
export function writeStringItem(wire: Wire, item: ItemSpec): void {
  const info = 4 | (item.origin ? 0x80 : 0) | (item.right ? 0x40 : 0);
  wire.u8(info);
  if (item.origin) wire.varUint(item.origin[0]).varUint(item.origin[1]);
  if (item.right) wire.varUint(item.right[0]).varUint(item.right[1]);
  if (!item.origin && !item.right) {
    if (item.root !== undefined) wire.varUint(1).string(item.root);
    else wire.varUint(0).varUint(item.parent![0]).varUint(item.parent![1]);
  }
  wire.string(item.text);
}

/** An update with the given client sections of string items and no deletes. */
export function stringUpdate(sections: Array<{ client: number; clock: number; items: ItemSpec[] }>): Uint8Array {
  const wire = new Wire().varUint(sections.length);
  for (const section of sections) {
    wire.varUint(section.items.length).varUint(section.client).varUint(section.clock);
    for (const item of section.items) writeStringItem(wire, item);
  }
  return wire.varUint(0).bytes();
}

/** An update with no structs and the given delete ranges. */
export function deleteUpdate(ranges: Array<{ client: number; clock: number; len: number }>): Uint8Array {
  const wire = new Wire().varUint(0).varUint(ranges.length);
  for (const range of ranges) wire.varUint(range.client).varUint(1).varUint(range.clock).varUint(range.len);
  return wire.bytes();
}
