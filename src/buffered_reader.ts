/**
 * `rfile`: a buffered reader over the bytes a request receives.
 *
 * @module
 */
import { LineTooLongError, SocketTimeoutError } from "./errors.ts";

/** What a reader may ask of the side that feeds it: stop or restart the flow of bytes. */
export interface FlowControl {
  /** Stop delivering bytes for now. */
  pause(): void;
  /** Deliver bytes again. */
  resume(): void;
}

const EMPTY = new Uint8Array(0);
const NEWLINE = 0x0a;

/** Default of {@link BufferedReader.maxLineLength}: the 64 KiB `http.server` allows, plus its newline. */
export const DEFAULT_MAX_LINE_LENGTH = 65537;

/** Bytes buffered before the reader pauses its source when nobody is reading. */
const HIGH_WATER_MARK = 64 * 1024;

/**
 * The kinds of read, each with one numeric argument: a read is described by data rather than by a closure, so that
 * reading a line allocates nothing but its promise.
 */
const NONE = 0, LINE = 1, LINE_STRICT = 2, READ = 3, READ1 = 4, NEXT_LINE = 5;
type ReadKind = typeof NONE | typeof LINE | typeof LINE_STRICT | typeof READ | typeof READ1 | typeof NEXT_LINE;

/**
 * A buffered reader, the `rfile` of stream and datagram handlers. Python's `BufferedReader` methods, returning
 * promises: {@link BufferedReader.read}, {@link BufferedReader.read1}, {@link BufferedReader.readline}, and
 * `for await` over lines.
 *
 * Memory stays bounded: `readline()` refuses lines longer than {@link BufferedReader.maxLineLength}, and when nobody
 * is reading, the source is paused once 64 KiB are buffered, so a flooding client is slowed down instead of buffered.
 *
 * @example Echo lines until the client closes
 * ```ts ignore
 * for await (const line of this.rfile) await this.wfile.write(line);
 * ```
 */
export class BufferedReader implements AsyncIterable<Uint8Array> {
  /**
   * Longest line `readline()` returns when called without a limit, in bytes including the newline. A longer line
   * raises {@link LineTooLongError} rather than growing memory without bound.
   */
  maxLineLength: number = DEFAULT_MAX_LINE_LENGTH;
  /** Milliseconds a read may wait for bytes before failing with {@link SocketTimeoutError}; `null` waits forever. */
  timeout: number | null = null;

  #chunks: Uint8Array[] = [];
  #offset = 0;
  #buffered = 0;
  #scanned = 0;
  #ended = false;
  #error: Error | null = null;
  #flow: FlowControl | null;
  #paused = false;
  /** What the read waiting for bytes wants (`NONE`: no read waits), and its size or line limit. */
  #pending: ReadKind = NONE;
  #pendingArg = 0;
  #resolve: ((value: unknown) => void) | null = null;
  #reject: ((error: unknown) => void) | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Makes an empty reader; bytes come through {@link BufferedReader.push}.
   *
   * @param flow the source to pause and resume, or `null` for a reader fed all at once (a datagram)
   */
  constructor(flow: FlowControl | null = null) {
    this.#flow = flow;
  }

  /** Pauses and resumes `flow` from now on (a connection that moved to another socket: STARTTLS). */
  setFlow(flow: FlowControl): void {
    if (this.#paused) flow.pause();
    this.#flow = flow;
  }

  /** Makes a reader over bytes that are all here already, such as a datagram. */
  static from(bytes: Uint8Array): BufferedReader {
    const reader = new BufferedReader();
    if (bytes.length > 0) reader.push(bytes);
    reader.end();
    return reader;
  }

  /** Feeds bytes in. The reader keeps a view of `chunk`; the caller must not reuse its memory. */
  push(chunk: Uint8Array): void {
    if (this.#ended || chunk.length === 0) return;
    const pending = this.#pending;
    // The usual case of a request/reply protocol: a line is awaited, and the chunk is that line and nothing more.
    if (
      (pending === LINE_STRICT || pending === LINE) && this.#buffered === 0 && chunk.length <= this.#pendingArg &&
      chunk.indexOf(NEWLINE) === chunk.length - 1
    ) {
      this.#settle(undefined, chunk);
      return;
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (pending !== NONE) this.#retry();
    else if (this.#buffered >= HIGH_WATER_MARK && this.#flow !== null && !this.#paused) {
      this.#paused = true;
      this.#flow.pause();
    }
  }

  /** Marks the end of input: reads return what is left, then empty. */
  end(): void {
    this.#ended = true;
    if (this.#pending !== NONE) this.#retry();
  }

  /** Fails the input: reads return what is left, then throw `error`. */
  fail(error: Error): void {
    if (this.#error === null && !this.#ended) this.#error = error;
    this.end();
  }

  /** Bytes buffered and not read yet. */
  get buffered(): number {
    return this.#buffered;
  }

  /** True once the input ended and every byte was read. */
  get atEnd(): boolean {
    return this.#ended && this.#buffered === 0;
  }

  /**
   * Reads one line, newline included. Returns an empty array at end of input. A last line without a newline is
   * returned as it is.
   *
   * @param limit when given, at most this many bytes are returned, as Python does (the caller checks for the newline);
   * when omitted, a line longer than {@link BufferedReader.maxLineLength} throws {@link LineTooLongError}
   */
  readline(limit?: number): Promise<Uint8Array> {
    const strict = limit === undefined || limit < 0;
    return this.#read(strict ? LINE_STRICT : LINE, strict ? this.maxLineLength : limit) as Promise<Uint8Array>;
  }

  /**
   * Reads `size` bytes, or fewer at end of input. With no size (or a negative one) reads to end of input.
   */
  read(size = -1): Promise<Uint8Array> {
    if (size === 0) return Promise.resolve(EMPTY);
    return this.#read(READ, size) as Promise<Uint8Array>;
  }

  /** Reads whatever is available, at least one byte and at most `size`, waiting only when nothing is buffered. */
  read1(size = 65536): Promise<Uint8Array> {
    if (size === 0) return Promise.resolve(EMPTY);
    return this.#read(READ1, size) as Promise<Uint8Array>;
  }

  /** Iterates over lines (see {@link BufferedReader.readline}) until end of input. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.#read(NEXT_LINE, 0) as Promise<IteratorResult<Uint8Array>>,
    };
  }

  /** What a read of `kind` returns from the buffer now, or `undefined` when it needs more bytes. */
  #attempt(kind: ReadKind, arg: number): Uint8Array | IteratorResult<Uint8Array> | undefined {
    switch (kind) {
      case LINE_STRICT:
        return this.#lineIfReady(arg, true);
      case LINE:
        return this.#lineIfReady(arg, false);
      case READ:
        if (arg >= 0 && this.#buffered >= arg) return this.#take(arg);
        return this.#ended ? this.#takeRest() : undefined;
      case READ1: {
        if (this.#buffered === 0) return this.#ended ? this.#takeRest() : undefined;
        const first = this.#chunks[0].length - this.#offset;
        return this.#take(Math.min(arg < 0 ? first : arg, first));
      }
      case NEXT_LINE: {
        const line = this.#lineIfReady(this.maxLineLength, true);
        if (line === undefined) return undefined;
        return line.length === 0 ? { done: true, value: undefined } : { done: false, value: line };
      }
      default:
        return undefined;
    }
  }

  /** A complete line, or the end-of-input remainder, or `undefined` when more bytes are needed. */
  #lineIfReady(cap: number, strict: boolean): Uint8Array | undefined {
    const end = this.#findNewline(cap);
    if (end >= 0) return this.#take(end + 1);
    if (this.#buffered >= cap) {
      if (strict) throw new LineTooLongError(cap);
      return this.#take(cap);
    }
    return this.#ended ? this.#takeRest() : undefined;
  }

  /**
   * Completes a read from the buffer now; when it needs more bytes, parks it and tries again as bytes arrive, straight
   * from `push()`, so a read costs one promise and one hop whether or not it had to wait.
   */
  #read(kind: ReadKind, arg: number): Promise<unknown> {
    if (this.#pending !== NONE) return Promise.reject(new Error("another read is already waiting on this reader"));
    try {
      const ready = this.#attempt(kind, arg);
      if (ready !== undefined) return Promise.resolve(ready);
    } catch (error) {
      return Promise.reject(error);
    }
    const timeout = this.timeout;
    const parked = new Promise<unknown>((resolve, reject) => {
      this.#pending = kind;
      this.#pendingArg = arg;
      this.#resolve = resolve;
      this.#reject = reject;
      if (timeout !== null) this.#timer = setTimeout(() => this.#settle(new SocketTimeoutError(timeout)), timeout);
    });
    // Resumed only once the read is parked: a source may push bytes from inside resume(), and they must reach it.
    if (this.#paused && this.#flow !== null) {
      this.#paused = false;
      this.#flow.resume();
    }
    return parked;
  }

  /** Tries the parked read again; settles it when it completes or fails. */
  #retry(): void {
    let ready: unknown;
    try {
      ready = this.#attempt(this.#pending, this.#pendingArg);
    } catch (error) {
      this.#settle(error);
      return;
    }
    if (ready !== undefined) this.#settle(undefined, ready);
  }

  #settle(error: unknown, value?: unknown): void {
    const resolve = this.#resolve!;
    const reject = this.#reject!;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending = NONE;
    this.#resolve = this.#reject = null;
    if (error !== undefined) reject(error);
    else resolve(value);
  }

  #findNewline(cap: number): number {
    let position = this.#scanned;
    let skip = position;
    for (let i = 0; i < this.#chunks.length; i++) {
      const chunk = this.#chunks[i];
      const start = i === 0 ? this.#offset : 0;
      const size = chunk.length - start;
      if (skip >= size) {
        skip -= size;
        continue;
      }
      const found = chunk.indexOf(NEWLINE, start + skip);
      if (found >= 0) {
        const index = position + (found - start - skip);
        return index < cap ? index : -1;
      }
      position += size - skip;
      skip = 0;
      if (position >= cap) break;
    }
    this.#scanned = position;
    return -1;
  }

  #take(count: number): Uint8Array {
    if (count === 0) return EMPTY; // readline(0), possibly with nothing buffered
    this.#scanned = 0;
    this.#buffered -= count;
    const first = this.#chunks[0];
    const start = this.#offset;
    if (first.length - start >= count) {
      if (first.length - start === count) {
        this.#chunks.shift();
        this.#offset = 0;
        // A chunk that is exactly one line (the usual case for request/reply protocols) needs no new view.
        return start === 0 ? first : first.subarray(start);
      }
      this.#offset += count;
      return first.subarray(start, start + count);
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.#chunks[0];
      const available = chunk.length - this.#offset;
      const want = Math.min(available, count - filled);
      out.set(chunk.subarray(this.#offset, this.#offset + want), filled);
      filled += want;
      if (want === available) {
        this.#chunks.shift();
        this.#offset = 0;
      } else this.#offset += want;
    }
    return out;
  }

  #takeRest(): Uint8Array {
    if (this.#buffered > 0) return this.#take(this.#buffered);
    if (this.#error !== null) throw this.#error;
    return EMPTY;
  }
}
