/**
 * `XdrWriter`: appends XDR units to a growing buffer.
 *
 * @module
 */

const utf8 = new TextEncoder();

/**
 * Appends big-endian, 4-byte aligned XDR units to a buffer that grows as needed. The writer checks nothing: the
 * schema types check values before writing them.
 */
export class XdrWriter {
  #buffer: Uint8Array;
  /** Made at the first 64-bit or floating-point write: 32-bit integers are written byte by byte, which is cheaper. */
  #dataView: DataView | null = null;
  /** Bytes written so far. */
  length = 0;

  /**
   * Makes an empty writer.
   *
   * @param capacity bytes to allocate at first (default 256)
   */
  constructor(capacity = 256) {
    this.#buffer = new Uint8Array(capacity);
  }

  get #view(): DataView {
    return this.#dataView ??= new DataView(this.#buffer.buffer, this.#buffer.byteOffset, this.#buffer.byteLength);
  }

  #put32(at: number, value: number): void {
    const b = this.#buffer;
    b[at] = value >>> 24;
    b[at + 1] = value >>> 16;
    b[at + 2] = value >>> 8;
    b[at + 3] = value;
  }

  /** Makes room for `count` more bytes. */
  reserve(count: number): void {
    const needed = this.length + count;
    if (needed <= this.#buffer.length) return;
    let size = this.#buffer.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buffer.subarray(0, this.length));
    this.#buffer = grown;
    this.#dataView = null;
  }

  /** A signed 32-bit integer. */
  int32(value: number): void {
    this.reserve(4);
    this.#put32(this.length, value);
    this.length += 4;
  }

  /** An unsigned 32-bit integer. */
  uint32(value: number): void {
    this.reserve(4);
    this.#put32(this.length, value);
    this.length += 4;
  }

  /** Overwrites the unsigned 32-bit integer at `offset` (a length or a record header written before its data). */
  patchUint32(offset: number, value: number): void {
    this.#put32(offset, value);
  }

  /** A signed 64-bit integer. */
  int64(value: bigint): void {
    this.reserve(8);
    this.#view.setBigInt64(this.length, value);
    this.length += 8;
  }

  /** An unsigned 64-bit integer. */
  uint64(value: bigint): void {
    this.reserve(8);
    this.#view.setBigUint64(this.length, value);
    this.length += 8;
  }

  /** An IEEE single. */
  float32(value: number): void {
    this.reserve(4);
    this.#view.setFloat32(this.length, value);
    this.length += 4;
  }

  /** An IEEE double. */
  float64(value: number): void {
    this.reserve(8);
    this.#view.setFloat64(this.length, value);
    this.length += 8;
  }

  /** Bytes, then zero padding to a multiple of 4. */
  opaque(bytes: Uint8Array): void {
    const padded = bytes.length + ((4 - (bytes.length & 3)) & 3);
    this.reserve(padded);
    this.#buffer.set(bytes, this.length);
    this.#buffer.fill(0, this.length + bytes.length, this.length + padded);
    this.length += padded;
  }

  /**
   * A string as a length word, its UTF-8 bytes and padding; returns the byte length (the caller checks it against a
   * maximum and may {@link XdrWriter.truncate} back).
   */
  text(value: string): number {
    const start = this.length;
    this.reserve(4 + value.length * 3 + 3);
    const { written } = utf8.encodeInto(value, this.#buffer.subarray(start + 4));
    this.#put32(start, written);
    const padded = written + ((4 - (written & 3)) & 3);
    this.#buffer.fill(0, start + 4 + written, start + 4 + padded);
    this.length = start + 4 + padded;
    return written;
  }

  /** Forgets what was written after `length`. */
  truncate(length: number): void {
    this.length = length;
  }

  /** What was written: a view of the buffer, valid until the next write. */
  bytes(): Uint8Array {
    return this.#buffer.subarray(0, this.length);
  }
}
