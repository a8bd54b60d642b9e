/**
 * `XdrReader`: reads XDR units from bytes, checking each length against the bytes left first.
 *
 * @module
 */
import { XdrError } from "./error.ts";

/** Default of {@link XdrReader.maxDepth}: nesting of recursive (`lazy`) types, as in js-xdr and go-xdr. */
export const DEFAULT_MAX_DEPTH = 200;

const utf8 = new TextDecoder();

/**
 * Reads big-endian, 4-byte aligned XDR units from a byte array. Every read first checks that its bytes are there and
 * throws {@link XdrError} otherwise, so nothing is allocated for lengths the input cannot hold. Opaque data comes back
 * as views into the input (no copy).
 */
export class XdrReader {
  /** The bytes read from. */
  readonly bytes: Uint8Array;
  /** Offset of the next byte to read. */
  offset: number;
  /** Offset just past the last byte that may be read. */
  readonly end: number;
  /** Deepest nesting of recursive types allowed (default {@link DEFAULT_MAX_DEPTH}). */
  maxDepth: number = DEFAULT_MAX_DEPTH;
  /** Current nesting of recursive types. */
  depth = 0;
  /** Made at the first 64-bit or floating-point read: 32-bit integers are read byte by byte, which is cheaper. */
  #dataView: DataView | null = null;

  /**
   * Makes a reader over `bytes[offset, end)`.
   *
   * @param bytes the encoded data
   * @param offset where reading starts (default 0)
   * @param end where it stops (default: the end of `bytes`)
   */
  constructor(bytes: Uint8Array, offset = 0, end: number = bytes.length) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("XdrReader reads a Uint8Array");
    if (!Number.isInteger(offset) || !Number.isInteger(end) || offset < 0 || end > bytes.length || offset > end) {
      throw new RangeError(`XdrReader: range [${offset}, ${end}) is not inside 0..${bytes.length}`);
    }
    this.bytes = bytes;
    this.offset = offset;
    this.end = end;
  }

  get #view(): DataView {
    return this.#dataView ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.end - this.offset;
  }

  /** Throws unless `count` more bytes are there; `what` names what needs them. */
  need(count: number, what: string): void {
    if (count > this.end - this.offset) {
      throw new XdrError(`${what} needs ${count} bytes, but only ${this.end - this.offset} are left`);
    }
  }

  /** A signed 32-bit integer. */
  int32(): number {
    const at = this.offset;
    if (this.end - at < 4) this.need(4, "int");
    const b = this.bytes;
    this.offset = at + 4;
    return (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3];
  }

  /** An unsigned 32-bit integer. */
  uint32(): number {
    const at = this.offset;
    if (this.end - at < 4) this.need(4, "unsigned int");
    const b = this.bytes;
    this.offset = at + 4;
    return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
  }

  /** A signed 64-bit integer. */
  int64(): bigint {
    this.need(8, "hyper");
    const value = this.#view.getBigInt64(this.offset);
    this.offset += 8;
    return value;
  }

  /** An unsigned 64-bit integer. */
  uint64(): bigint {
    this.need(8, "unsigned hyper");
    const value = this.#view.getBigUint64(this.offset);
    this.offset += 8;
    return value;
  }

  /** An IEEE single. */
  float32(): number {
    this.need(4, "float");
    const value = this.#view.getFloat32(this.offset);
    this.offset += 4;
    return value;
  }

  /** An IEEE double. */
  float64(): number {
    this.need(8, "double");
    const value = this.#view.getFloat64(this.offset);
    this.offset += 8;
    return value;
  }

  /** `count` bytes and their zero padding to a multiple of 4, as a view into the input. */
  opaque(count: number, what = "opaque"): Uint8Array {
    const padded = count + ((4 - (count & 3)) & 3);
    // The message is built only when it is needed: this runs for every credential and verifier.
    if (padded > this.end - this.offset) this.need(padded, `${what} of ${count} bytes`);
    const start = this.offset;
    for (let i = start + count; i < start + padded; i++) {
      if (this.bytes[i] !== 0) throw new XdrError(`${what} has non-zero padding`);
    }
    this.offset = start + padded;
    return this.bytes.subarray(start, start + count);
  }

  /** `count` bytes of UTF-8 text and their padding. */
  text(count: number): string {
    return utf8.decode(this.opaque(count, "string"));
  }
}
