/**
 * `LengthPrefixedReceiver`: a stream protocol that frames its input into messages, each preceded by its length
 * (Twisted's `Int32StringReceiver` and its 8- and 16-bit kin).
 *
 * @module
 */
import { type BytesLike, toBytes } from "../connection.ts";
import { ByteQueue } from "./byte_queue.ts";
import { StreamProtocol } from "./stream_protocol.ts";

/** Default of {@link LengthPrefixedReceiver.maxMessageLength}: 1 MiB. */
export const DEFAULT_MAX_MESSAGE_LENGTH: number = 1024 * 1024;

/** A length prefix announced a message longer than the receiver accepts. */
export class MessageTooLongError extends Error {
  /** The length the prefix announced. */
  readonly length: number;
  /** The most the receiver accepts. */
  readonly limit: number;

  /**
   * Makes the error for a message of `length` bytes where `limit` is the most accepted.
   *
   * @param length the length the prefix announced
   * @param limit the receiver's `maxMessageLength`
   */
  constructor(length: number, limit: number) {
    super(`message of ${length} bytes announced, longer than ${limit}: raise maxMessageLength to accept it`);
    this.length = length;
    this.limit = limit;
    this.name = "MessageTooLongError";
  }
}

/**
 * Settings of {@link LengthPrefixedReceiver} that a subclass may change with a class field or a getter. Declared in an
 * interface merged with the class, so that TypeScript accepts both forms of override.
 */
export interface LengthPrefixedReceiver<Server = unknown> {
  /** Bytes of the big-endian length prefix: 1, 2 or 4 (default 4, Twisted's `Int32StringReceiver`). */
  prefixLength: 1 | 2 | 4;
  /** Longest message accepted, in bytes (default 1 MiB); a longer announced length calls `lengthLimitExceeded()`. */
  maxMessageLength: number;
}

/**
 * A stream protocol that calls {@link LengthPrefixedReceiver.messageReceived} once per message, wherever the chunks
 * split. Each message is preceded by its length in {@link LengthPrefixedReceiver.prefixLength} bytes, big-endian
 * (network order); {@link LengthPrefixedReceiver.sendMessage} writes one the same way. A message is a view of the
 * received bytes when it lies in one chunk, and a copy when it spans several. An announced length over
 * {@link LengthPrefixedReceiver.maxMessageLength} calls {@link LengthPrefixedReceiver.lengthLimitExceeded}, which
 * throws {@link MessageTooLongError} by default (the connection is reset and the error reaches `handleError()`).
 * Pausing reading from `messageReceived()` stops the messages there too.
 *
 * `dataReceived()` does the framing: override it only to call `super`.
 *
 * @example Answering each message with its length
 * ```ts
 * import { LengthPrefixedReceiver } from "@sockserve/sockserve";
 *
 * class Sizes extends LengthPrefixedReceiver {
 *   override messageReceived(message: Uint8Array) {
 *     this.sendMessage(`${message.length} bytes`);
 *   }
 * }
 * ```
 */
export class LengthPrefixedReceiver<Server = unknown> extends StreamProtocol<Server> {
  static {
    this.prototype.prefixLength = 4;
    this.prototype.maxMessageLength = DEFAULT_MAX_MESSAGE_LENGTH;
  }

  #queue: ByteQueue | undefined;
  /** The length of the message whose prefix was read, or -1 while waiting for a prefix. */
  #expected = -1;

  /** One message, without its prefix. Does nothing by default. */
  messageReceived(_message: Uint8Array): void {}

  /** A prefix announced `length` bytes, over the limit. Throws {@link MessageTooLongError} by default. */
  lengthLimitExceeded(length: number): void {
    throw new MessageTooLongError(length, this.maxMessageLength);
  }

  /**
   * Writes `message` (a string is sent as UTF-8) after its length prefix, in one write; returns what
   * `transport.write()` returns.
   *
   * @throws {RangeError} when the message is too long for the prefix
   */
  sendMessage(message: BytesLike): boolean {
    const bytes = toBytes(message);
    const size = this.#prefixSize();
    if (bytes.length >= 2 ** (8 * size)) {
      throw new RangeError(`message of ${bytes.length} bytes does not fit a ${size}-byte length prefix`);
    }
    const framed = new Uint8Array(size + bytes.length);
    for (let i = 0, length = bytes.length; i < size; i++, length = Math.floor(length / 256)) {
      framed[size - 1 - i] = length & 255;
    }
    framed.set(bytes, size);
    return this.transport.write(framed);
  }

  /** Frames `data` into messages. */
  override dataReceived(data: Uint8Array): void {
    const queue = this.#queue ??= new ByteQueue();
    queue.push(data);
    const size = this.#prefixSize();
    const transport = this.transport;
    for (;;) {
      if (this.#expected < 0) {
        if (queue.length < size) return;
        let length = 0;
        for (let i = 0; i < size; i++) length = length * 256 + queue.at(i);
        queue.take(size);
        if (length > this.maxMessageLength) {
          this.#queue = undefined;
          return this.lengthLimitExceeded(length);
        }
        this.#expected = length;
      }
      if (queue.length < this.#expected) return;
      const message = queue.take(this.#expected);
      this.#expected = -1;
      this.messageReceived(message);
      if (transport.closing) return;
      if (!transport.reading) {
        if (queue.length > 0) transport.unread(queue.takeAll());
        return;
      }
    }
  }

  #prefixSize(): 1 | 2 | 4 {
    const size = this.prefixLength;
    if (size !== 1 && size !== 2 && size !== 4) throw new RangeError(`prefixLength must be 1, 2 or 4, got ${size}`);
    return size;
  }
}
