/**
 * `RecordFramer`: record marking (RFC 5531 §11) cut from chunks as they arrive, for handlers in the callback shape.
 * The limits are checked from each fragment header before its bytes are held.
 *
 * @module
 */
import { ByteQueue } from "../protocol/byte_queue.ts";
import { RecordError } from "./errors.ts";
import { joinFragments, type RecordLimits } from "./record.ts";

const LAST = 0x8000_0000;
const LENGTH = 0x7fff_ffff;

/**
 * Cuts records out of the chunks pushed into it: {@link RecordFramer.next} returns each complete record once, a view
 * of the chunk when the record came in one fragment within one chunk (the usual case), a joined copy otherwise.
 */
export class RecordFramer {
  readonly #limits: RecordLimits;
  readonly #queue = new ByteQueue();
  /** Fragments of the record being assembled, when it has more than one. */
  #fragments: Uint8Array[] = [];
  #total = 0;
  /** The length of the fragment whose header was read, or -1 while waiting for a header. */
  #fragment = -1;
  #last = false;

  /**
   * Makes the framer.
   *
   * @param limits the limits records are checked against (the timeouts are the caller's)
   */
  constructor(limits: RecordLimits) {
    this.#limits = limits;
  }

  /** Appends received bytes (kept, not copied: the caller gives the chunk up). */
  push(chunk: Uint8Array): void {
    this.#queue.push(chunk);
  }

  /** True while part of a record is held: bytes after the last complete record. */
  get holding(): boolean {
    return this.#queue.length > 0 || this.#fragment >= 0 || this.#fragments.length > 0;
  }

  /**
   * The next complete record, or `undefined` until more bytes come.
   *
   * @throws {RecordError} on a broken record or a limit: close the connection, no reply is possible
   */
  next(): Uint8Array | undefined {
    const queue = this.#queue;
    for (;;) {
      if (this.#fragment < 0) {
        if (queue.length < 4) return undefined;
        const header = queue.takeUint32();
        const length = header & LENGTH;
        const last = header >= LAST;
        const limits = this.#limits;
        if (length === 0 && !last) throw new RecordError("an empty fragment that is not the last");
        if (this.#total + length > limits.maxRecordSize) {
          throw new RecordError(`a record longer than ${limits.maxRecordSize} bytes (maxRecordSize)`);
        }
        if (this.#fragments.length >= limits.maxFragments) {
          throw new RecordError(`a record in more than ${limits.maxFragments} fragments (maxFragments)`);
        }
        this.#fragment = length;
        this.#last = last;
      }
      const length = this.#fragment;
      if (queue.length < length) return undefined;
      const fragment = queue.take(length);
      this.#fragment = -1;
      if (this.#last && this.#fragments.length === 0) {
        if (length === 0) throw new RecordError("an empty record");
        return fragment;
      }
      if (length > 0) this.#fragments.push(fragment);
      this.#total += length;
      if (this.#last) return this.#joined();
    }
  }

  #joined(): Uint8Array {
    const fragments = this.#fragments;
    const total = this.#total;
    this.#fragments = [];
    this.#total = 0;
    return joinFragments(fragments, total);
  }
}
