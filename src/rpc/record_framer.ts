/**
 * Records (RFC 5531 §11) cut from the bytes that come in: `RecordFramer` from chunks as they arrive (the RPC handlers,
 * the client), and `readRecord` from a connection's reader, one record at a time. The limits are checked from each
 * fragment header before its bytes are held.
 *
 * @module
 */
import type { BufferedReader } from "../buffered_reader.ts";
import { concatBytes } from "../concat_bytes.ts";
import { SocketTimeoutError } from "../errors.ts";
import { ByteQueue } from "../protocol/byte_queue.ts";
import { RecordError } from "./errors.ts";
import { FRAGMENT_LENGTH, LAST_FRAGMENT, type RecordLimits } from "./record.ts";

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
   * Bytes still missing before {@link RecordFramer.next} can move on: to the next fragment header, or to the end of
   * the fragment being read.
   */
  get needed(): number {
    const queued = this.#queue.length;
    return Math.max(0, (this.#fragment < 0 ? 4 : this.#fragment) - queued);
  }

  /**
   * The next complete record, or `undefined` until more bytes come.
   *
   * @throws {RecordError} on a broken record or a limit: close the connection, no reply is possible
   */
  next(): Uint8Array | undefined {
    const bytes = this.nextRecord();
    if (bytes === undefined) return undefined;
    const start = this.recordStart;
    const end = this.recordEnd;
    return start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
  }

  /** Where the record {@link RecordFramer.nextRecord} returned last starts in the array it returned. */
  recordStart = 0;
  /** Where it ends in that array. */
  recordEnd = 0;

  /**
   * {@link RecordFramer.next} without making a view: the array that holds the next complete record from
   * `recordStart` to `recordEnd` (the chunk it came in, when it came in one), or `undefined` until more bytes come.
   *
   * @throws {RecordError} on a broken record or a limit: close the connection, no reply is possible
   */
  nextRecord(): Uint8Array | undefined {
    const queue = this.#queue;
    for (;;) {
      if (this.#fragment < 0) {
        if (queue.length < 4) return undefined;
        const header = queue.takeUint32();
        const length = header & FRAGMENT_LENGTH;
        const last = header >= LAST_FRAGMENT;
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
      this.#fragment = -1;
      if (this.#last && this.#fragments.length === 0) {
        if (length === 0) throw new RecordError("an empty record");
        const bytes = queue.takeRange(length);
        this.recordStart = queue.rangeStart;
        this.recordEnd = this.recordStart + length;
        return bytes;
      }
      if (length > 0) this.#fragments.push(queue.take(length));
      this.#total += length;
      if (this.#last) {
        const fragments = this.#fragments;
        const total = this.#total;
        this.#fragments = [];
        this.#total = 0;
        this.recordStart = 0;
        this.recordEnd = total;
        return joinFragments(fragments, total);
      }
    }
  }
}

/**
 * A record from its fragments (`total` bytes in all): the fragment itself when there is one, else a joined copy.
 *
 * @throws {RecordError} when the record is empty
 */
function joinFragments(fragments: readonly Uint8Array[], total: number): Uint8Array {
  if (total === 0) throw new RecordError("an empty record");
  return fragments.length === 1 ? fragments[0] : concatBytes(fragments, total);
}

/**
 * Reads one record from `reader`, taking no byte past it: `null` when the connection ends cleanly between records. For
 * a stream handler in the `rfile` shape; the RPC handlers frame whole chunks with a {@link RecordFramer} instead.
 *
 * @throws {RecordError} on a limit, a broken record, a record cut off, or one that takes longer than `recordTimeout`
 *   (close the connection: no reply is possible)
 * @throws {SocketTimeoutError} when the connection stays idle past `idleTimeout` before the record starts
 */
export async function readRecord(reader: BufferedReader, limits: RecordLimits): Promise<Uint8Array | null> {
  const framer = new RecordFramer(limits);
  const { idleTimeout, recordTimeout } = limits;
  // Until the first header is read: the idle limit. From then on: what is left of the record's.
  let started = false;
  let deadline = Infinity;
  for (;;) {
    let timeout = idleTimeout;
    if (started) {
      const left = deadline - Date.now();
      if (left <= 0) throw new RecordError(`a record took longer than ${recordTimeout} ms`);
      timeout = left === Infinity ? null : left;
    }
    const wanted = framer.needed;
    reader.timeout = timeout;
    let bytes: Uint8Array;
    try {
      bytes = await reader.read(wanted);
    } catch (error) {
      if (started && error instanceof SocketTimeoutError) {
        throw new RecordError(`a record took longer than ${recordTimeout} ms`);
      }
      throw error;
    } finally {
      reader.timeout = null;
    }
    if (bytes.length === 0 && !started) return null;
    if (bytes.length < wanted) throw new RecordError("the connection ended inside a record");
    if (!started) {
      started = true;
      if (recordTimeout !== null) deadline = Date.now() + recordTimeout;
    }
    framer.push(bytes);
    const record = framer.next();
    if (record !== undefined) return record;
  }
}
