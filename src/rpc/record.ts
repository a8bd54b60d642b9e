/**
 * Record marking (RFC 5531 §11): one RPC message per record, a record in one or more fragments, each with a 4-byte
 * header (bit 31: last fragment; bits 0–30: length). Limits are checked from the headers, before buffering.
 *
 * @module
 */
import type { BufferedReader } from "../buffered_reader.ts";
import { SocketTimeoutError } from "../errors.ts";
import { RecordError } from "./errors.ts";

/** Default of {@link RecordLimits.maxRecordSize}: 1 MiB. */
export const DEFAULT_MAX_RECORD_SIZE: number = 1024 * 1024;
/** Default of {@link RecordLimits.maxFragments}: 1024. */
export const DEFAULT_MAX_FRAGMENTS = 1024;
/** Default of {@link RecordLimits.idleTimeout}: 2 minutes. */
export const DEFAULT_IDLE_TIMEOUT = 120_000;
/** Default of {@link RecordLimits.recordTimeout}: 30 s. */
export const DEFAULT_RECORD_TIMEOUT = 30_000;

/** The limits on records a stream server takes. */
export interface RecordLimits {
  /** Largest record (the sum of its fragments), in bytes. */
  readonly maxRecordSize: number;
  /** Most fragments in one record. */
  readonly maxFragments: number;
  /** Milliseconds a connection may wait between records; `null`: forever. */
  readonly idleTimeout: number | null;
  /** Milliseconds from a record's first byte to its last; `null`: no limit. */
  readonly recordTimeout: number | null;
}

/** The default limits. */
export const DEFAULT_RECORD_LIMITS: RecordLimits = Object.freeze({
  maxRecordSize: DEFAULT_MAX_RECORD_SIZE,
  maxFragments: DEFAULT_MAX_FRAGMENTS,
  idleTimeout: DEFAULT_IDLE_TIMEOUT,
  recordTimeout: DEFAULT_RECORD_TIMEOUT,
});

const LAST = 0x8000_0000;

const EMPTY = new Uint8Array(0);

/**
 * Reads records from a connection's reader: {@link RecordReader.next} returns a record that is buffered already at
 * once, without a promise (pipelined calls, or a call that came in one read, the usual case), and otherwise waits.
 * Bytes are taken from the reader as they come (`read1`), so a record and the headers around it cost one read, and
 * the wait between records is watched by one timer per `idleTimeout`, not one per record.
 *
 * Close it with {@link RecordReader.close} (it stops the idle timer).
 */
export class RecordReader {
  readonly #reader: BufferedReader;
  readonly #limits: RecordLimits;
  /** Bytes taken from the reader and not parsed yet: `#chunk[#at, length)`. */
  #chunk: Uint8Array = EMPTY;
  #at = 0;
  /** When the wait for a record began (ms), while the reader waits between records; else -1. */
  #idleSince = -1;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #exact: boolean;

  /**
   * Makes the reader.
   *
   * @param reader the connection's reader (its `timeout` is set by this reader while it waits)
   * @param limits the limits records are checked against, from their fragment headers
   * @param options `exact`: take no byte past each record from `reader` (for {@link readRecord}); slower
   */
  constructor(reader: BufferedReader, limits: RecordLimits, options: { readonly exact?: boolean } = {}) {
    this.#reader = reader;
    this.#limits = limits;
    this.#exact = options.exact === true;
  }

  /**
   * The next record: `null` when the connection ends cleanly between records. A record buffered already (one
   * fragment) is returned as it is; otherwise a promise.
   *
   * @throws {RecordError} (or rejects with it) on a limit or a broken record: close the connection, no reply is possible
   */
  next(): Uint8Array | null | Promise<Uint8Array | null> {
    return this.#buffered() ?? this.#read();
  }

  /** A record of one fragment, within the limits, whose bytes are all held: taken; else `undefined`. */
  #buffered(): Uint8Array | undefined {
    const chunk = this.#chunk;
    const at = this.#at;
    if (chunk.length - at < 4) return undefined;
    const header = ((chunk[at] << 24) | (chunk[at + 1] << 16) | (chunk[at + 2] << 8) | chunk[at + 3]) >>> 0;
    const length = header & 0x7fff_ffff;
    if (
      header < LAST || length === 0 || length > this.#limits.maxRecordSize || this.#limits.maxFragments < 1 ||
      chunk.length - at - 4 < length
    ) {
      return undefined;
    }
    this.#at = at + 4 + length;
    return chunk.subarray(at + 4, at + 4 + length);
  }

  /** Stops the idle timer. */
  close(): void {
    this.#closed = true;
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  get #held(): number {
    return this.#chunk.length - this.#at;
  }

  /**
   * Between records, reads the next bytes into `#chunk`, waiting at most `idleTimeout`: false at a clean end. Takes
   * what the reader has (one fragment header only, when `exact`).
   */
  async #next(): Promise<boolean> {
    const reader = this.#reader;
    let bytes: Uint8Array;
    if (this.#exact) {
      reader.timeout = this.#limits.idleTimeout;
      try {
        bytes = await reader.read(4);
      } finally {
        reader.timeout = null;
      }
      if (bytes.length > 0 && bytes.length < 4) throw new RecordError("the connection ended inside a fragment header");
    } else if (this.#limits.idleTimeout !== null) {
      reader.timeout = null;
      this.#watchIdle(this.#limits.idleTimeout);
      try {
        bytes = await reader.read1();
      } finally {
        this.#idleSince = -1;
      }
    } else bytes = await reader.read1();
    if (bytes.length === 0) return false;
    this.#chunk = bytes;
    this.#at = 0;
    return true;
  }

  /** Marks the start of a wait between records, and makes sure a timer watches it. */
  #watchIdle(idleTimeout: number): void {
    this.#idleSince = Date.now();
    if (this.#idleTimer !== undefined || this.#closed) return;
    const check = (): void => {
      this.#idleTimer = undefined;
      if (this.#closed) return;
      if (this.#idleSince < 0) {
        this.#idleTimer = setTimeout(check, idleTimeout);
        return;
      }
      const waited = Date.now() - this.#idleSince;
      if (waited >= idleTimeout) this.#reader.fail(new SocketTimeoutError(idleTimeout));
      else this.#idleTimer = setTimeout(check, idleTimeout - waited);
    };
    this.#idleTimer = setTimeout(check, idleTimeout);
  }

  /** The first `count` held bytes, reading more with `timeout` as needed; a short read is a record cut off. */
  async #take(count: number, timeout: () => number | null): Promise<Uint8Array> {
    const held = this.#held;
    if (held >= count) {
      const at = this.#at;
      this.#at = at + count;
      return this.#chunk.subarray(at, at + count);
    }
    // What is held, then exactly the rest, read in one go (the reader gathers it).
    const head = this.#chunk.subarray(this.#at);
    this.#chunk = EMPTY;
    this.#at = 0;
    const reader = this.#reader;
    reader.timeout = timeout();
    let rest: Uint8Array;
    try {
      rest = await reader.read(count - held);
    } finally {
      reader.timeout = null;
    }
    if (rest.length !== count - held) throw new RecordError("the connection ended inside a record");
    if (held === 0) return rest;
    const joined = new Uint8Array(count);
    joined.set(head);
    joined.set(rest, held);
    return joined;
  }

  async #read(): Promise<Uint8Array | null> {
    // Between records: the idle limit, until the first byte of the next one; usually that read brings it whole.
    if (this.#held === 0) {
      if (!(await this.#next())) return null;
      const record = this.#buffered();
      if (record !== undefined) return record;
    }
    return this.#assemble();
  }

  /** Reads a record with every check: several fragments, one that comes in pieces, or one that breaks a limit. */
  async #assemble(): Promise<Uint8Array> {
    const limits = this.#limits;
    let deadline: number | null = null;
    const left = (): number | null => {
      if (limits.recordTimeout === null) return null;
      deadline ??= Date.now() + limits.recordTimeout;
      const ms = deadline - Date.now();
      if (ms <= 0) throw new RecordError(`a record took longer than ${limits.recordTimeout} ms`);
      return ms;
    };
    const fragments: Uint8Array[] = [];
    let total = 0;
    try {
      left();
      let header = headerOf(await this.#take(4, left));
      for (;;) {
        const length = header & 0x7fff_ffff;
        const last = header >= LAST;
        if (length === 0 && !last) throw new RecordError("an empty fragment that is not the last");
        if (total + length > limits.maxRecordSize) {
          throw new RecordError(`a record longer than ${limits.maxRecordSize} bytes (maxRecordSize)`);
        }
        if (fragments.length === limits.maxFragments) {
          throw new RecordError(`a record in more than ${limits.maxFragments} fragments (maxFragments)`);
        }
        if (length > 0) fragments.push(await this.#take(length, left));
        total += length;
        if (last) break;
        header = headerOf(await this.#take(4, left));
      }
    } catch (error) {
      if (error instanceof SocketTimeoutError) {
        throw new RecordError(`a record took longer than ${limits.recordTimeout} ms`);
      }
      throw error;
    }
    return joinFragments(fragments, total);
  }
}

/**
 * A record from its fragments (`total` bytes in all): the fragment itself when there is one, else a joined copy.
 *
 * @throws {RecordError} when the record is empty
 */
export function joinFragments(fragments: readonly Uint8Array[], total: number): Uint8Array {
  if (total === 0) throw new RecordError("an empty record");
  if (fragments.length === 1) return fragments[0];
  const record = new Uint8Array(total);
  let offset = 0;
  for (const fragment of fragments) {
    record.set(fragment, offset);
    offset += fragment.length;
  }
  return record;
}

/**
 * Reads one record, taking no byte past it from `reader`: `null` when the connection ends cleanly between records.
 * To read many, a {@link RecordReader} is faster.
 *
 * @throws {RecordError} on a limit or a broken record (close the connection: no reply is possible)
 * @throws {SocketTimeoutError} when the connection stays idle past `idleTimeout`
 */
export async function readRecord(reader: BufferedReader, limits: RecordLimits): Promise<Uint8Array | null> {
  const records = new RecordReader(reader, limits, { exact: true });
  try {
    return await records.next();
  } finally {
    records.close();
  }
}

function headerOf(bytes: Uint8Array): number {
  return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
}

/**
 * Splits a message into fragments of at most `maxFragment` bytes, each with its header (for clients and tests that
 * send multi-fragment records).
 */
export function frameRecord(message: Uint8Array, maxFragment = 0x7fff_ffff): Uint8Array {
  if (!Number.isInteger(maxFragment) || maxFragment < 1 || maxFragment > 0x7fff_ffff) {
    throw new RangeError(`maxFragment must be 1..2^31-1, got ${maxFragment}`);
  }
  const count = Math.max(1, Math.ceil(message.length / maxFragment));
  const out = new Uint8Array(message.length + 4 * count);
  const view = new DataView(out.buffer);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const piece = message.subarray(i * maxFragment, (i + 1) * maxFragment);
    view.setUint32(at, ((i === count - 1 ? LAST : 0) | piece.length) >>> 0);
    out.set(piece, at + 4);
    at += 4 + piece.length;
  }
  return out;
}
