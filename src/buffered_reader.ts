/**
 * `rfile`: a buffered reader over the bytes a request receives.
 *
 * @module
 */
import { copyOut } from "./byte_pool.ts";
import { LineTooLongError } from "./errors.ts";
import { ReadDeadlines } from "./read_deadlines.ts";

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

/** Memory held (see {@link BufferedReader.heldMemory}) at which the reader pauses its source when nobody is reading. */
const HIGH_WATER_MARK = 64 * 1024;
/** Smallest array of its own the reader makes to gather chunks in. */
const MIN_CAPACITY = 256;
/**
 * A read that waits for more bytes while the reader holds memory beyond `WASTE_FACTOR` × its bytes + `WASTE_ALLOWANCE`
 * (a one-byte view of a 16 KiB slab, the big array left after a long line) has its bytes copied into a fitting array.
 */
const WASTE_FACTOR = 4;
const WASTE_ALLOWANCE = 1024;
/** A chunk at least this long, arriving for a read of known size, may make the reader's array grow 4-fold at once. */
const LARGE_CHUNK = 4096;
/** Up to this many bytes are moved or searched one by one: cheaper than the view that `set()` or `indexOf()` needs. */
const BYTEWISE_LIMIT = 64;
/** The most bytes left after a `skip()` in a runtime's chunk that are moved to a slab (see `copyOut`). */
const SMALL_REST = 128;

/**
 * The kinds of read, each with one numeric argument: a read is described by data rather than by a closure, so that
 * reading a line allocates nothing but its promise.
 */
const NONE = 0, LINE = 1, LINE_STRICT = 2, READ = 3, READ1 = 4, NEXT_LINE = 5, FILL = 6;
type ReadKind =
  | typeof NONE
  | typeof LINE
  | typeof LINE_STRICT
  | typeof READ
  | typeof READ1
  | typeof NEXT_LINE
  | typeof FILL;
/** What a read returns from the buffer now (see `#attempt`), or `undefined` when it needs more bytes. */
type Attempt = Uint8Array | IteratorResult<Uint8Array> | number | undefined;

/**
 * A buffered reader, the `rfile` of stream and datagram handlers. Python's `BufferedReader` methods, returning
 * promises: {@link BufferedReader.read}, {@link BufferedReader.read1}, {@link BufferedReader.readline}, and
 * `for await` over lines.
 *
 * Memory stays bounded: `readline()` refuses lines longer than {@link BufferedReader.maxLineLength}, and when nobody
 * is reading, the source is paused once 64 KiB are held, so a flooding client is slowed down instead of buffered.
 * The work per arriving byte is constant however bytes are split: a waiting `readline()` resumes its search where it
 * stopped, and chunks that arrive while bytes are buffered are gathered into one array of the reader's own, whose
 * size stays within a small factor of the bytes it holds ({@link BufferedReader.heldMemory}).
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
  /**
   * Milliseconds a line read (`readline()`, `for await`) may take from the first byte of its line to its end; `null`
   * (the default here; stream servers set their `lineTimeout`, 60 s by default) has no limit. Unlike
   * {@link BufferedReader.timeout} and {@link BufferedReader.idleTimeout}, bytes arriving do not put it off, so a
   * client that sends a line a byte at a time cannot hold a read for longer. Fails the read with
   * {@link SocketTimeoutError}.
   */
  lineTimeout: number | null = null;
  /**
   * Milliseconds a read may wait with no byte arriving (an idle client) before failing with
   * {@link SocketTimeoutError}; `null` (the default) waits forever. Each arriving byte starts the wait again (it ends
   * between `idleTimeout` and twice that after the last byte).
   */
  idleTimeout: number | null = null;

  /**
   * The buffered bytes are `#buffer[#start, #end)`: either a chunk as it came (borrowed, no copy) or the reader's own
   * array (`#owned`), into which later chunks are copied, so that bytes trickling in one at a time cost one array, not
   * one array each.
   */
  #buffer: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  #owned = false;
  /** Views of the owned array were handed out: the bytes before `#start` belong to them and must not be overwritten. */
  #lent = false;
  /** Index into `#buffer` before which (from `#start`) there is no newline: a line's search resumes there. */
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
  /** The waiting read's timers (`timeout`, `lineTimeout`, `idleTimeout`), made when first needed. */
  #deadlines: ReadDeadlines | null = null;

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

  /**
   * Feeds bytes in. The reader keeps a view of `chunk` (or copies it, when bytes are buffered already); the caller
   * must not reuse its memory.
   */
  push(chunk: Uint8Array): void {
    if (this.#ended || chunk.length === 0) return;
    const pending = this.#pending;
    if (this.#end === this.#start) {
      // The usual case of a request/reply protocol: a line is awaited, and the chunk is that line and nothing more.
      if (
        (pending === LINE_STRICT || pending === LINE) && chunk.length <= this.#pendingArg &&
        chunk.indexOf(NEWLINE) === chunk.length - 1
      ) {
        this.#settle(undefined, chunk);
        return;
      }
      this.#buffer = chunk;
      this.#start = this.#scanned = 0;
      this.#end = chunk.length;
      this.#owned = this.#lent = false;
    } else this.#append(chunk);
    if (pending !== NONE) {
      const waiting = this.#resolve;
      this.#retry();
      // Still the same read (a callback read settled here may have parked another, which these bytes did not begin).
      if (this.#pending !== NONE && this.#resolve === waiting) {
        this.#trim();
        const lineTimeout = pending !== READ && pending !== READ1 ? this.lineTimeout : null;
        if (lineTimeout !== null || this.#deadlines !== null) this.#deadlinesOf().arrived(lineTimeout);
      }
    } else if (
      this.#flow !== null && !this.#paused && (this.#owned ? this.#buffer.length : this.#end) >= HIGH_WATER_MARK
    ) {
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
    return this.#end - this.#start;
  }

  /**
   * Bytes of memory the reader holds for its buffered bytes: the whole array behind a chunk it keeps as it came, or
   * the whole array of its own it gathers chunks in; 0 when nothing is buffered. While a read waits for bytes it stays
   * within 4 × the bytes buffered + 1 KiB. The reader's own array counts whole against the 64 KiB at which the source
   * is paused; a chunk kept as it came counts its length (its array is the source's to size).
   */
  get heldMemory(): number {
    if (this.#end === this.#start) return 0;
    return this.#owned ? this.#buffer.length : this.#buffer.buffer.byteLength;
  }

  /** True once the input ended and every byte was read. */
  get atEnd(): boolean {
    return this.#ended && this.#end === this.#start;
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

  /**
   * The buffered bytes, without taking them (Python's `peek()`): a view, valid until the next read, `skip()` or
   * arriving chunk. Empty when nothing is buffered.
   */
  peek(): Uint8Array {
    const buffer = this.#buffer;
    if (this.#start === this.#end) return EMPTY;
    // A chunk held whole is its own view: a first subarray() of a runtime's fresh chunk costs more than a small copy.
    if (this.#start === 0 && this.#end === buffer.length) return buffer;
    return buffer.subarray(this.#start, this.#end);
  }

  /** Takes every buffered byte at once, without waiting: a copy the caller owns (empty when nothing is buffered). */
  takeBuffered(): Uint8Array {
    const bytes = new Uint8Array(this.peek());
    this.skip(bytes.length);
    return bytes;
  }

  /** Drops up to `count` buffered bytes, at once, without waiting; returns how many were dropped. */
  skip(count: number): number {
    const dropped = Math.max(0, Math.min(count, this.#end - this.#start));
    if (dropped === 0) return 0;
    const next = this.#start + dropped;
    if (next === this.#end) {
      this.#buffer = EMPTY;
      this.#start = this.#end = this.#scanned = 0;
      this.#owned = this.#lent = false;
    } else if (!this.#owned && this.#end - next <= SMALL_REST) {
      // What follows a header (a PROXY protocol line, say) in a runtime's chunk: moved to a slab of small copies, where
      // reads take views of it at less cost than of that chunk.
      this.#buffer = copyOut(this.#buffer, this.#end - next, next);
      this.#scanned = Math.max(this.#scanned - next, 0);
      this.#start = 0;
      this.#end = this.#buffer.length;
      this.#lent = false;
    } else {
      // As a read, with no view made: nothing is lent.
      this.#start = next;
      if (this.#scanned < next) this.#scanned = next;
    }
    return dropped;
  }

  /**
   * Waits, as a read does (with `timeout`, `idleTimeout`), until at least `minimum` bytes are buffered or the input
   * ended, taking nothing: look at them with {@link BufferedReader.peek}. Resolves with the number buffered; rejects
   * with the input's error when it failed with nothing left buffered.
   */
  fill(minimum: number): Promise<number> {
    return this.#read(FILL, minimum) as Promise<number>;
  }

  /**
   * {@link BufferedReader.fill} by callback: `done(undefined, buffered)` or `done(error)`, called at once when the
   * bytes are there already, else as they arrive (from inside {@link BufferedReader.push}), with no promise between:
   * for a connection's preamble (a PROXY protocol header), which then hands the connection on in the same turn.
   */
  fillThen(minimum: number, done: (error: unknown, buffered: number) => void): void {
    let ready: unknown;
    try {
      ready = this.#attemptNow(FILL, minimum);
    } catch (error) {
      return done(error, 0);
    }
    if (ready !== undefined) return done(undefined, ready as number);
    this.#park(FILL, minimum, (count) => done(undefined, count as number), (error) => done(error, 0));
  }

  /** Iterates over lines (see {@link BufferedReader.readline}) until end of input. */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.#read(NEXT_LINE, 0) as Promise<IteratorResult<Uint8Array>>,
    };
  }

  /** What a read of `kind` returns from the buffer now, or `undefined` when it needs more bytes. */
  #attempt(kind: ReadKind, arg: number): Attempt {
    switch (kind) {
      case LINE_STRICT:
        return this.#lineIfReady(arg, true);
      case LINE:
        return this.#lineIfReady(arg, false);
      case READ:
        if (arg >= 0 && this.#end - this.#start >= arg) return this.#take(arg);
        return this.#ended ? this.#takeRest() : undefined;
      case READ1: {
        const held = this.#end - this.#start;
        if (held === 0) return this.#ended ? this.#takeRest() : undefined;
        return this.#take(arg < 0 ? held : Math.min(arg, held));
      }
      case FILL: {
        const held = this.#end - this.#start;
        if (held >= arg) return held;
        if (!this.#ended) return undefined;
        if (held === 0 && this.#error !== null) throw this.#error;
        return held;
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
    if (this.#end - this.#start >= cap) {
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
    try {
      const ready = this.#attemptNow(kind, arg);
      if (ready !== undefined) return Promise.resolve(ready);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<unknown>((resolve, reject) => this.#park(kind, arg, resolve, reject));
  }

  /** `#attempt()` for a new read: throws while another read waits (one at a time). */
  #attemptNow(kind: ReadKind, arg: number): Attempt {
    if (this.#pending !== NONE) throw new Error("another read is already waiting on this reader");
    return this.#attempt(kind, arg);
  }

  /** Makes the read wait for bytes: it settles by `resolve` or `reject`, from `push()`, `end()` or a timer. */
  #park(kind: ReadKind, arg: number, resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
    if (this.#end !== this.#start) this.#trim();
    this.#pending = kind;
    this.#pendingArg = arg;
    this.#resolve = resolve;
    this.#reject = reject;
    const { timeout, idleTimeout } = this;
    // A line begun already (the bytes before it are here): its deadline runs from now.
    const lineBegun = (kind === LINE || kind === LINE_STRICT || kind === NEXT_LINE) && this.#end > this.#start;
    const lineTimeout = lineBegun ? this.lineTimeout : null;
    if (timeout !== null || lineTimeout !== null || idleTimeout !== null) {
      this.#deadlinesOf().start(timeout, lineTimeout, idleTimeout);
    }
    // Resumed only once the read is parked: a source may push bytes from inside resume(), and they must reach it.
    if (this.#paused && this.#flow !== null) {
      this.#paused = false;
      this.#flow.resume();
    }
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

  #deadlinesOf(): ReadDeadlines {
    return this.#deadlines ??= new ReadDeadlines((error) => this.#settle(error));
  }

  #settle(error: unknown, value?: unknown): void {
    const resolve = this.#resolve!;
    const reject = this.#reject!;
    this.#deadlines?.clear();
    this.#pending = NONE;
    this.#resolve = this.#reject = null;
    if (error !== undefined) reject(error);
    else resolve(value);
  }

  /** Copies `chunk` after the buffered bytes, into the reader's own array, which grows by doubling. */
  #append(chunk: Uint8Array): void {
    const size = chunk.length;
    if (!this.#owned || this.#buffer.length - this.#end < size) {
      const need = this.#end - this.#start + size;
      // Moved to the front only when no handed-out view can see it, and when that leaves room enough to grow into.
      if (this.#owned && !this.#lent && need <= this.#buffer.length >> 1) this.#moveTo(this.#buffer);
      else this.#moveTo(new Uint8Array(this.#capacityFor(need, size)));
    }
    const buffer = this.#buffer;
    const end = this.#end;
    if (size <= BYTEWISE_LIMIT) { for (let i = 0; i < size; i++) buffer[end + i] = chunk[i]; }
    else buffer.set(chunk, end);
    this.#end = end + size;
  }

  /**
   * The size of a new array for `need` bytes, the last `size` of them just arrived: twice the need, or, when a large
   * chunk arrives for a read of known size (a long line coming in large reads), up to 4 × the need but no more than
   * that read takes, so that the line is copied once rather than once per doubling.
   */
  #capacityFor(need: number, size: number): number {
    const doubled = Math.max(MIN_CAPACITY, 2 * need);
    const pending = this.#pending;
    if (size < LARGE_CHUNK || pending === NONE || pending === READ1 || (pending === READ && this.#pendingArg < 0)) {
      return doubled;
    }
    const wants = pending === NEXT_LINE ? this.maxLineLength : this.#pendingArg;
    return Math.max(doubled, Math.min(wants, 4 * need));
  }

  /** Moves the buffered bytes to the front of `target` (the reader's own array, or a new one that becomes it). */
  #moveTo(target: Uint8Array): void {
    const start = this.#start;
    const held = this.#end - start;
    if (target === this.#buffer) target.copyWithin(0, start, this.#end);
    else target.set(this.#buffer.subarray(start, this.#end));
    this.#scanned -= start;
    this.#buffer = target;
    this.#start = 0;
    this.#end = held;
    this.#owned = true;
    this.#lent = false;
  }

  /** Before a read waits: when the memory held is far more than the bytes buffered, keeps a fitting copy instead. */
  #trim(): void {
    const held = this.#end - this.#start;
    if (held > 0 && this.heldMemory > WASTE_ALLOWANCE + WASTE_FACTOR * held) {
      this.#moveTo(new Uint8Array(Math.max(MIN_CAPACITY, 2 * held)));
    }
  }

  /**
   * Where the first newline among the first `cap` buffered bytes is (counted from the first buffered byte), or -1. The
   * search starts where the last one stopped, so a line that arrives a byte at a time is searched once, not once per
   * byte.
   */
  #findNewline(cap: number): number {
    const buffer = this.#buffer;
    const start = this.#start;
    const limit = Math.min(this.#end, start + cap);
    const from = this.#scanned;
    if (from >= limit) return -1;
    let found = -1;
    if (limit === buffer.length) found = buffer.indexOf(NEWLINE, from);
    else if (limit - from <= BYTEWISE_LIMIT) {
      for (let i = from; i < limit; i++) {
        if (buffer[i] === NEWLINE) {
          found = i;
          break;
        }
      }
    } else {
      found = buffer.subarray(from, limit).indexOf(NEWLINE);
      if (found >= 0) found += from;
    }
    if (found < 0) {
      this.#scanned = limit;
      return -1;
    }
    this.#scanned = found;
    return found - start;
  }

  /** Takes the first `count` buffered bytes: a view, never a copy, and the chunk itself when it is all of it. */
  #take(count: number): Uint8Array {
    if (count === 0) return EMPTY; // readline(0), possibly with nothing buffered
    const buffer = this.#buffer;
    const start = this.#start;
    const next = start + count;
    if (next === this.#end) {
      // Nothing left: the array is let go, so that an idle connection holds none.
      this.#buffer = EMPTY;
      this.#start = this.#end = this.#scanned = 0;
      this.#owned = this.#lent = false;
      // A chunk that is exactly one line (the usual case for request/reply protocols) needs no new view.
      return start === 0 && next === buffer.length ? buffer : buffer.subarray(start, next);
    }
    this.#start = next;
    if (this.#scanned < next) this.#scanned = next;
    if (this.#owned) this.#lent = true;
    return buffer.subarray(start, next);
  }

  #takeRest(): Uint8Array {
    if (this.#end > this.#start) return this.#take(this.#end - this.#start);
    if (this.#error !== null) throw this.#error;
    return EMPTY;
  }
}
