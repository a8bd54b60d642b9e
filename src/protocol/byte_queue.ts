/**
 * A queue of received chunks, for the framing protocols: bytes go in as chunks and come out as views when they lie in
 * one chunk, joined only when a frame spans several.
 *
 * @module
 */

const EMPTY = new Uint8Array(0);

/** Chunks not yet framed, oldest first. Internal to the library's framing protocols (`src/protocol/`, `src/rpc/`). */
export class ByteQueue {
  #chunks: Uint8Array[] = [];
  #offset = 0;
  #length = 0;

  /** Bytes queued. */
  get length(): number {
    return this.#length;
  }

  /** Appends a chunk (kept as it is, not copied). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The byte at `index` from the front (`index` < `length`). */
  at(index: number): number {
    let position = index + this.#offset;
    for (const chunk of this.#chunks) {
      if (position < chunk.length) return chunk[position];
      position -= chunk.length;
    }
    throw new RangeError(`index ${index} is past the ${this.#length} queued bytes`);
  }

  /** Where the bytes {@link ByteQueue.takeRange} returned last start in the array it returned. */
  rangeStart = 0;

  /** Removes and returns the first `count` bytes (`count` ≤ `length`): a view when they lie in one chunk. */
  take(count: number): Uint8Array {
    const bytes = this.takeRange(count);
    const start = this.rangeStart;
    return start === 0 && bytes.length === count ? bytes : bytes.subarray(start, start + count);
  }

  /**
   * Removes the first `count` bytes (`count` ≤ `length`) and returns an array that holds them from
   * {@link ByteQueue.rangeStart}: the chunk itself when they lie in one (no view made, for the hottest paths), else a
   * joined copy.
   */
  takeRange(count: number): Uint8Array {
    this.rangeStart = 0;
    if (count === 0) return EMPTY;
    this.#length -= count;
    const first = this.#chunks[0];
    const start = this.#offset;
    const available = first.length - start;
    if (available >= count) {
      if (available === count) {
        this.#chunks.shift();
        this.#offset = 0;
      } else this.#offset += count;
      this.rangeStart = start;
      return first;
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.#chunks[0];
      const left = chunk.length - this.#offset;
      const want = Math.min(left, count - filled);
      out.set(chunk.subarray(this.#offset, this.#offset + want), filled);
      filled += want;
      if (want === left) {
        this.#chunks.shift();
        this.#offset = 0;
      } else this.#offset += want;
    }
    return out;
  }

  /** Removes the first 4 bytes (`length` ≥ 4) and returns them as a big-endian unsigned 32-bit number. */
  takeUint32(): number {
    const first = this.#chunks[0];
    const at = this.#offset;
    if (first.length - at <= 4) {
      const bytes = this.take(4);
      return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
    }
    // Inside the first chunk, with bytes after it: read in place, no view made.
    this.#offset = at + 4;
    this.#length -= 4;
    return ((first[at] << 24) | (first[at + 1] << 16) | (first[at + 2] << 8) | first[at + 3]) >>> 0;
  }

  /** Removes and returns everything queued. */
  takeAll(): Uint8Array {
    return this.take(this.#length);
  }
}
