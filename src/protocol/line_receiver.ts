/**
 * `LineReceiver`: a stream protocol that frames its input into lines (Twisted's `LineReceiver`), with a raw mode for
 * bodies.
 *
 * @module
 */
import { DEFAULT_MAX_LINE_LENGTH } from "../buffered_reader.ts";
import { type BytesLike, toBytes } from "../connection.ts";
import { LineTooLongError } from "../errors.ts";
import { ByteQueue } from "./byte_queue.ts";
import { StreamProtocol } from "./stream_protocol.ts";

const NEWLINE = 0x0a;
const encoder = new TextEncoder();

/**
 * Settings of {@link LineReceiver} that a subclass may change with a class field or a getter. Declared in an interface
 * merged with the class, so that TypeScript accepts both forms of override.
 */
export interface LineReceiver<Server = unknown> {
  /**
   * Longest line accepted, in bytes including the newline: the default and the rule of `rfile.readline()`
   * (65537, `DEFAULT_MAX_LINE_LENGTH`). Longer input without a newline calls `lineLengthExceeded()`.
   */
  maxLineLength: number;
}

/**
 * A stream protocol that calls {@link LineReceiver.lineReceived} once per line, wherever the chunks split. A line
 * ends with `\n` and is passed with it (as `rfile.readline()` returns lines; a `\r\n` line ends with both); at end of
 * input, a last line without a newline is passed as it is. Lines longer than {@link LineReceiver.maxLineLength} call
 * {@link LineReceiver.lineLengthExceeded}, which throws {@link LineTooLongError} by default (the connection is reset
 * and the error reaches `handleError()`): the same limit, default and error as `readline()`.
 *
 * For a body that is not lines (a length given in a header line), call {@link LineReceiver.setRawMode}: the bytes
 * after the current line then go to {@link LineReceiver.rawDataReceived}, until {@link LineReceiver.setLineMode}
 * hands the rest of a chunk back to line framing. Pausing reading from `lineReceived()` stops the lines there too.
 *
 * `dataReceived()` and `eofReceived()` do the framing: override them only to call `super`.
 *
 * @example A line echo, and a `body N` command that reads N raw bytes
 * ```ts
 * import { LineReceiver } from "@sockserve/sockserve";
 *
 * class Lines extends LineReceiver {
 *   #bodyLeft = 0;
 *   override lineReceived(line: Uint8Array) {
 *     const text = new TextDecoder().decode(line).trimEnd();
 *     if (text.startsWith("body ")) {
 *       this.#bodyLeft = Number(text.slice(5));
 *       this.setRawMode();
 *     } else this.sendLine(text);
 *   }
 *   override rawDataReceived(data: Uint8Array) {
 *     const body = data.subarray(0, this.#bodyLeft);
 *     this.#bodyLeft -= body.length;
 *     this.transport.write(body);
 *     if (this.#bodyLeft === 0) this.setLineMode(data.subarray(body.length));
 *   }
 * }
 * ```
 */
export class LineReceiver<Server = unknown> extends StreamProtocol<Server> {
  static {
    this.prototype.maxLineLength = DEFAULT_MAX_LINE_LENGTH;
  }

  #partial: ByteQueue | undefined;
  #raw = false;

  /** True between {@link LineReceiver.setRawMode} and {@link LineReceiver.setLineMode}. */
  get rawMode(): boolean {
    return this.#raw;
  }

  /** One line, its newline included (absent only from a last line at end of input). Does nothing by default. */
  lineReceived(_line: Uint8Array): void {}

  /** Bytes received in raw mode. Does nothing by default. */
  rawDataReceived(_data: Uint8Array): void {}

  /**
   * Input went past {@link LineReceiver.maxLineLength} without a newline (`length`: the bytes seen of the line). Throws
   * {@link LineTooLongError} by default; an override that returns instead drops the line's bytes received so far.
   */
  lineLengthExceeded(_length: number): void {
    throw new LineTooLongError(this.maxLineLength);
  }

  /** From the next byte on (after the current line), input goes to `rawDataReceived()`. */
  setRawMode(): void {
    if (this.#raw) return;
    this.#raw = true;
    const partial = this.#partial;
    if (partial !== undefined && partial.length > 0) this.rawDataReceived(partial.takeAll());
  }

  /** Back to lines; `extra` (the rest of a raw chunk that is not body) is framed first. */
  setLineMode(extra?: Uint8Array): void {
    this.#raw = false;
    if (extra !== undefined && extra.length > 0) this.dataReceived(extra);
  }

  /**
   * Writes `line` and a newline in one write (a string is sent as UTF-8); returns what `transport.write()` returns.
   */
  sendLine(line: BytesLike): boolean {
    if (typeof line === "string") return this.transport.write(encoder.encode(line + "\n"));
    const bytes = toBytes(line);
    const framed = new Uint8Array(bytes.length + 1);
    framed.set(bytes);
    framed[bytes.length] = NEWLINE;
    return this.transport.write(framed);
  }

  /** Frames `data` into lines (or passes it on in raw mode). */
  override dataReceived(data: Uint8Array): void {
    if (this.#raw) return this.rawDataReceived(data);
    const max = this.maxLineLength;
    let start = 0;
    const partial = this.#partial;
    if (partial !== undefined && partial.length > 0) {
      // A line begun in an earlier chunk: it ends here, or goes on (as long as it stays under the limit).
      const newline = data.indexOf(NEWLINE);
      if (newline < 0) {
        if (partial.length + data.length >= max) return this.#exceeded(partial.length + data.length);
        partial.push(data);
        return;
      }
      if (partial.length + newline + 1 > max) return this.#exceeded(partial.length + newline + 1);
      partial.push(data.subarray(0, newline + 1));
      start = newline + 1;
      this.lineReceived(partial.takeAll());
      if (this.#stopped(data, start)) return;
    }
    // The usual chunk of a request/reply protocol is one whole line: no second scan once it is used up (on V8, an
    // indexOf() that starts at the end of the array still costs as much as a short scan).
    while (start < data.length) {
      const newline = data.indexOf(NEWLINE, start);
      if (newline < 0) break;
      if (newline + 1 - start > max) return this.#exceeded(newline + 1 - start);
      const line = start === 0 && newline + 1 === data.length ? data : data.subarray(start, newline + 1);
      start = newline + 1;
      this.lineReceived(line);
      if (this.#stopped(data, start)) return;
    }
    if (start === data.length) return;
    const rest = data.length - start;
    if (rest >= max) return this.#exceeded(rest);
    (this.#partial ??= new ByteQueue()).push(start === 0 ? data : data.subarray(start));
  }

  /** At end of input, a last line without a newline is passed on; then the transport closes (the default). */
  override eofReceived(): boolean | void {
    const partial = this.#partial;
    if (partial !== undefined && partial.length > 0 && !this.#raw) this.lineReceived(partial.takeAll());
  }

  /**
   * After a line: whether framing stops in this chunk (raw mode, which gets the rest; reading paused, which gets it
   * later; or the transport closing).
   */
  #stopped(data: Uint8Array, start: number): boolean {
    const transport = this.transport;
    if (this.#raw) {
      if (start < data.length) this.rawDataReceived(data.subarray(start));
      return true;
    }
    if (transport.closing) return true;
    if (!transport.reading) {
      transport.unread(data.subarray(start));
      return true;
    }
    return false;
  }

  #exceeded(length: number): void {
    this.#partial = undefined;
    this.lineLengthExceeded(length);
  }
}
