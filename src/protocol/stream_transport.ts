/**
 * `StreamTransport`: what a stream protocol writes through, with explicit backpressure both ways (asyncio's
 * `Transport`).
 *
 * @module
 */
import type { HandleEnding } from "../base_request_handler.ts";
import { type BytesLike, type Connection, toBytes } from "../connection.ts";
import type { SocketAddress, StreamSocket, StreamSocketEvents } from "../transport.ts";

/** The callbacks a transport calls: what {@link StreamProtocol} declares. */
export interface StreamProtocolCallbacks {
  /** The connection is ready; `transport` is where to write. */
  connectionMade(transport: StreamTransport): void;
  /** Bytes arrived; the chunk belongs to the protocol. */
  dataReceived(data: Uint8Array): void;
  /** The peer half-closed. Return `true` to keep writing; anything else closes the transport. */
  eofReceived(): boolean | void;
  /** The connection is closed: `null` when it ended cleanly, otherwise the reason. Called once, last. */
  connectionLost(error: Error | null): void;
  /** The write queue went above its high-water mark: stop writing until {@link StreamProtocolCallbacks.resumeWriting}. */
  pauseWriting(): void;
  /** The write queue drained: writing may go on. */
  resumeWriting(): void;
}

/** How long a closed transport may take to hand its last queued bytes to a peer that does not read (as `TCPServer`). */
const LINGER = 30_000;

// State bits of a transport.
const READING_PAUSED = 1;
const WRITING_PAUSED = 2;
const CLOSING = 4;
const EOF_WRITTEN = 8;
const EOF_RECEIVED = 16;
const REPLAYING = 32;
const FAILED = 64;
const LOST = 128;
const STARTED = 256;

/** Marks the end of input among held chunks. */
const END = null;

/** Makes the events object of a transport; defined inside {@link StreamTransport} to reach its private state. */
let TransportEvents: new (transport: StreamTransport) => StreamSocketEvents;

/**
 * The transport of one stream connection, as a {@link StreamProtocol} sees it: asyncio's `Transport` (and Twisted's
 * `ITransport`). Made by the protocol handler; a protocol never makes one.
 *
 * Backpressure is explicit, both ways:
 * - **Writing.** {@link StreamTransport.write} queues the bytes and returns `false` once the queue is above the
 *   socket's high-water mark; the protocol's `pauseWriting()` is then called once, and `resumeWriting()` when the
 *   queue has drained. A protocol that stops writing between the two runs at the peer's pace in bounded memory.
 * - **Reading.** {@link StreamTransport.pauseReading} stops reading the socket: no `dataReceived()` comes until
 *   {@link StreamTransport.resumeReading}, and a peer that goes on sending is slowed down by the kernel. (The few bytes
 *   a runtime had read already are held here and delivered on resume.)
 *
 * @example An echo protocol that respects both
 * ```ts
 * import { StreamProtocol } from "@sockserve/sockserve";
 *
 * class Echo extends StreamProtocol {
 *   override dataReceived(data: Uint8Array) {
 *     if (!this.transport.write(data)) this.transport.pauseReading(); // the peer does not read: stop reading it
 *   }
 *   override resumeWriting() {
 *     this.transport.resumeReading();
 *   }
 * }
 * ```
 */
export class StreamTransport {
  #connection: Connection;
  #socket: StreamSocket;
  #protocol: StreamProtocolCallbacks;
  #state = 0;
  /** Input held while reading is paused or the reader's leftovers are replayed: chunks, and END. */
  #held: Array<Uint8Array | typeof END> | null = null;
  /** The connection's own error (a reset), for `connectionLost`. */
  #error: Error | null = null;
  /** What a callback threw. */
  #failure: unknown;
  /** Told once the connection is closed and `connectionLost()` has run. */
  #ending: HandleEnding | null = null;
  #linger: ReturnType<typeof setTimeout> | undefined;

  /**
   * Makes the transport of one connection; nothing happens until {@link StreamTransport.start}.
   *
   * @param connection the accepted connection; the transport takes its input over when started
   * @param protocol what the transport calls as events happen
   */
  constructor(connection: Connection, protocol: StreamProtocolCallbacks) {
    this.#connection = connection;
    this.#socket = connection.socket;
    this.#protocol = protocol;
  }

  static {
    // Inside the class, to reach its private state; one small object per connection, its handlers on the prototype.
    TransportEvents = class implements StreamSocketEvents {
      readonly #transport: StreamTransport;

      constructor(transport: StreamTransport) {
        this.#transport = transport;
      }

      data(chunk: Uint8Array): void {
        const transport = this.#transport;
        if (transport.#held !== null) transport.#held.push(chunk);
        else transport.#deliver(chunk);
      }

      end(): void {
        const transport = this.#transport;
        if (transport.#held !== null) transport.#held.push(END);
        else transport.#deliver(END);
      }

      error(error: Error): void {
        this.#transport.#error ??= error;
      }

      drain(): void {
        const transport = this.#transport;
        if ((transport.#state & WRITING_PAUSED) === 0) return;
        transport.#state &= ~WRITING_PAUSED;
        if ((transport.#state & (FAILED | LOST)) !== 0) return;
        try {
          transport.#protocol.resumeWriting();
        } catch (error) {
          transport.#fail(error);
        }
      }

      close(): void {
        // While the reader's leftovers are replayed, the replay sees the connection closed and finishes with this.
        const transport = this.#transport;
        if ((transport.#state & REPLAYING) === 0) transport.#lost();
      }
    };
  }

  /**
   * Takes the connection's input over and calls `connectionMade()`. Resolves once the connection is closed and
   * `connectionLost()` has run; rejects with what a callback threw (the connection is then reset). For the handler.
   *
   * @throws {Error} when started twice
   */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.startThen({ handled: resolve, handleFailed: reject }));
  }

  /**
   * {@link StreamTransport.start} that reports the end to `ending` instead of through a promise: what the server's own
   * bookkeeping takes, so that an open connection holds no promise chain. For the handler.
   *
   * @throws {Error} when started twice
   */
  startThen(ending: HandleEnding): void {
    if ((this.#state & STARTED) !== 0) throw new Error("the transport was started already");
    this.#state |= STARTED;
    this.#ending = ending;
    const connection = this.#connection;
    connection.divert(new TransportEvents(this));
    // Bytes (or the end) that came before the protocol did, as in sync mode, a worker, or a child: they go first.
    const leftover = connection.hasHeldInput;
    if (leftover) {
      this.#state |= REPLAYING;
      this.#held = [];
    }
    try {
      this.#protocol.connectionMade(this);
    } catch (error) {
      this.#fail(error);
    }
    if (leftover) void this.#replay();
  }

  /** The connection underneath (its addresses, `whenClosed`). Write through the transport, not through it. */
  get connection(): Connection {
    return this.#connection;
  }

  /** The peer's address: `[host, port]`, or a unix path (`""` when the peer has none). */
  get remoteAddress(): SocketAddress {
    return this.#socket.remoteAddress;
  }

  /** This end's address. */
  get localAddress(): SocketAddress {
    return this.#socket.localAddress;
  }

  /** Bytes queued for sending and not yet handed to the OS (asyncio's `get_write_buffer_size()`). */
  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  /** True once `close()` or `abort()` was called, or the connection is closed (asyncio's `is_closing()`). */
  get closing(): boolean {
    return (this.#state & (CLOSING | LOST)) !== 0;
  }

  /** True while input is delivered (not paused by {@link StreamTransport.pauseReading}). */
  get reading(): boolean {
    return (this.#state & READING_PAUSED) === 0 && (this.#state & (CLOSING | LOST)) === 0;
  }

  /**
   * Queues `data` (a string is sent as UTF-8) and returns whether the queue is still below its high-water mark. On
   * `false`, the protocol's `pauseWriting()` has been called: write no more until `resumeWriting()`. Do not modify
   * `data` afterwards. Bytes written after the connection was lost are dropped.
   *
   * @throws {Error} after `writeEof()`, `close()` or `abort()`
   */
  write(data: BytesLike): boolean {
    const state = this.#state;
    if ((state & (CLOSING | EOF_WRITTEN | LOST)) !== 0) {
      if ((state & LOST) !== 0) return true;
      throw new Error(`cannot write: the transport was ${(state & CLOSING) !== 0 ? "closed" : "half-closed"}`);
    }
    const bytes = toBytes(data);
    if (bytes.length === 0 || this.#socket.write(bytes)) return true;
    if ((this.#state & WRITING_PAUSED) === 0) {
      this.#state |= WRITING_PAUSED;
      this.#protocol.pauseWriting();
    }
    return false;
  }

  /**
   * Half-closes: the peer reads end of input once the queued bytes are sent; reading goes on. When the peer has
   * half-closed already, both directions are done and the transport closes.
   */
  writeEof(): void {
    if ((this.#state & (EOF_WRITTEN | CLOSING | LOST)) !== 0) return;
    this.#state |= EOF_WRITTEN;
    if ((this.#state & EOF_RECEIVED) !== 0) this.close();
    else this.#connection.closeWrite();
  }

  /**
   * Closes once the queued bytes are sent (reset after 30 s if the peer never reads them). No `dataReceived()` comes
   * afterwards; `connectionLost(null)` follows once the connection is closed. Idempotent.
   */
  close(): void {
    if ((this.#state & (CLOSING | LOST)) !== 0) return;
    this.#state |= CLOSING;
    this.#held = null;
    const connection = this.#connection;
    connection.close();
    if (connection.bufferedAmount > 0 && !connection.closed) {
      this.#linger = setTimeout(() => connection.abort(), LINGER);
    }
  }

  /** Closes at once, dropping the queued bytes (a reset on TCP). Idempotent. */
  abort(): void {
    if ((this.#state & LOST) !== 0) return;
    this.#state |= CLOSING;
    this.#held = null;
    this.#connection.abort();
  }

  /** Stops delivering input: no `dataReceived()` until {@link StreamTransport.resumeReading}. Idempotent. */
  pauseReading(): void {
    if ((this.#state & (READING_PAUSED | CLOSING | LOST)) !== 0) return;
    this.#state |= READING_PAUSED;
    this.#held ??= [];
    this.#socket.pause();
  }

  /** Delivers input again after {@link StreamTransport.pauseReading}: what was held first. Idempotent. */
  resumeReading(): void {
    if ((this.#state & READING_PAUSED) === 0) return;
    this.#state &= ~READING_PAUSED;
    if ((this.#state & (REPLAYING | CLOSING | LOST)) !== 0) return;
    this.#release();
  }

  /**
   * Puts bytes back in front of the input: the next `dataReceived()` gets them first, once reading is not paused. For
   * a protocol that stops in the middle of a chunk: it paused reading there (as the line receiver does when
   * `lineReceived()` pauses), or hands the rest to another parser.
   */
  unread(data: Uint8Array): void {
    if (data.length === 0 || (this.#state & (CLOSING | LOST)) !== 0) return;
    const held = this.#held;
    if (held !== null) {
      held.unshift(data);
      return;
    }
    this.#held = [data];
    // Not paused: delivered on the next turn, ahead of anything that arrives meanwhile (it is held behind).
    if ((this.#state & READING_PAUSED) === 0) queueMicrotask(() => this.#release());
  }

  /** Sets TCP_NODELAY: small writes go out at once. */
  setNoDelay(enabled = true): void {
    this.#socket.setNoDelay(enabled);
  }

  /** Hands one chunk (or END) to the protocol. */
  #deliver(item: Uint8Array | typeof END): void {
    const state = this.#state;
    if ((state & (CLOSING | FAILED | LOST)) !== 0) return;
    try {
      if (item !== END) {
        this.#protocol.dataReceived(item);
        return;
      }
      this.#state |= EOF_RECEIVED;
      const keepOpen = this.#protocol.eofReceived();
      if (keepOpen !== true || (this.#state & EOF_WRITTEN) !== 0) this.close();
    } catch (error) {
      this.#fail(error);
    }
  }

  /** Delivers the held input while reading is not paused; stops holding once it is all delivered. */
  #release(): void {
    const held = this.#held;
    if (held !== null) {
      // One at a time from the front: a callback may pause again, or put bytes back in front (unread).
      while (held.length > 0 && (this.#state & (READING_PAUSED | CLOSING | LOST)) === 0) this.#deliver(held.shift()!);
      if (this.#held !== held || (this.#state & READING_PAUSED) !== 0) return; // closed, or paused again
    }
    this.#held = null;
    if ((this.#state & (CLOSING | LOST)) === 0) this.#socket.resume();
  }

  /**
   * Delivers what the connection's reader took before the transport did (bytes, the end, a reset), then what arrived
   * meanwhile. The reader may have paused the socket (it does at 64 KiB when nobody reads): resumed here.
   */
  async #replay(): Promise<void> {
    const connection = this.#connection;
    const reader = connection.reader;
    const front: Array<Uint8Array | typeof END> = [];
    try {
      if (reader.buffered > 0) front.push(await reader.read(reader.buffered));
      if (reader.atEnd) {
        await reader.read1();
        front.push(END);
      }
    } catch (error) {
      this.#error ??= error instanceof Error ? error : new Error(String(error));
    }
    // Closed before the transport started, or while replaying (the close event left the rest to this).
    const closed = connection.closed;
    const rest = this.#held ?? [];
    this.#state &= ~REPLAYING;
    if ((this.#state & (CLOSING | LOST)) !== 0) {
      this.#held = null;
      if (closed) this.#lost();
      return;
    }
    this.#held = front.concat(rest);
    if (closed) return this.#lost();
    if ((this.#state & READING_PAUSED) === 0) this.#release();
  }

  /** A callback threw: the connection is reset, and the handler fails with the error once it is closed. */
  #fail(error: unknown): void {
    if ((this.#state & FAILED) !== 0) return;
    this.#state |= FAILED;
    this.#failure = error;
    this.abort();
  }

  /** The connection is closed: held input is delivered (pausing is advice now), then `connectionLost()`. */
  #lost(): void {
    if ((this.#state & LOST) !== 0) return;
    clearTimeout(this.#linger);
    const held = this.#held;
    this.#held = null;
    if (held !== null && (this.#state & (CLOSING | FAILED)) === 0) {
      for (const item of held) this.#deliver(item);
    }
    this.#state |= LOST;
    const failed = (this.#state & FAILED) !== 0;
    const failure = this.#failure;
    try {
      this.#protocol.connectionLost(failed && failure instanceof Error ? failure : this.#error);
    } catch (error) {
      if (!failed) {
        this.#state |= FAILED;
        this.#failure = error;
      }
    }
    const ending = this.#ending!;
    this.#ending = null;
    if ((this.#state & FAILED) !== 0) ending.handleFailed(this.#failure);
    else ending.handled();
  }
}
