/**
 * The request object of stream servers: one accepted connection, with Python-socket-like methods.
 *
 * @module
 */
import { BufferedReader } from "./buffered_reader.ts";
import { SocketTimeoutError } from "./errors.ts";
import type { ProxyHeader } from "./proxy/header.ts";
import { RESOLVED } from "./resolved.ts";
import { StartTlsError } from "./tls/errors.ts";
import type { TlsInfo } from "./tls/info.ts";
import type { SecuredSocket, SocketAddress, StreamSocket, StreamSocketEvents } from "./transport.ts";

const encoder = new TextEncoder();

/** Turns a string (UTF-8) or any byte view into a `Uint8Array` without copying bytes. */
export function toBytes(data: Uint8Array | ArrayBufferView | ArrayBuffer | string): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`expected a string, Uint8Array, ArrayBufferView or ArrayBuffer, got ${typeof data}`);
}

/**
 * Runs the server side of a TLS handshake on a connection's socket (for `startTls()`): a server's `TlsContext`, or
 * the relay to the thread that holds the socket.
 */
export type TlsUpgrade = (socket: StreamSocket, response: Uint8Array | null) => Promise<SecuredSocket>;

interface DrainWaiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

const NO_WAITERS: DrainWaiter[] = [];

/**
 * What a connection hears from its socket: one small object per connection with its handlers on the prototype, where
 * five closures and an object literal would cost every open connection a few hundred bytes more. Defined inside
 * {@link Connection} (to reach its private state), and declared here, before it.
 */
let ConnectionEvents: new (connection: Connection) => StreamSocketEvents;

/** Bytes accepted by `write()`-like methods: a string is sent as UTF-8. */
export type BytesLike = Uint8Array | ArrayBufferView | ArrayBuffer | string;

/**
 * One accepted stream connection: the `request` of TCP and unix stream handlers, standing where Python passes the
 * socket. Reading goes through {@link Connection.reader} (the handler's `rfile`), so `recv()` and `rfile` never
 * steal bytes from each other.
 */
export class Connection {
  /** Milliseconds a `sendAll()` may wait for the peer to take bytes; `null` waits forever. */
  timeout: number | null = null;
  /**
   * The PROXY protocol header the connection started with, on a server with the `proxyProtocol` option (and in its
   * workers and child processes); `null` otherwise. After a LOCAL header (a proxy's health check), a reset by the
   * peer reads as end of input rather than as an error: that is how checks hang up.
   */
  proxyHeader: ProxyHeader | null = null;
  #socket: StreamSocket;
  #events: StreamSocketEvents;
  /** How `startTls()` secures this connection; `null` where the server offers no STARTTLS. */
  tlsUpgrade: TlsUpgrade | null = null;
  #tls: TlsInfo | null;
  // Shared and empty until a writer waits: most connections never wait, and each array costs every open one.
  #drainWaiters: DrainWaiter[] = NO_WAITERS;
  #error: Error | null = null;
  #closed = false;
  // Where input goes instead of the reader, once a consumer took it over (see divert()).
  #tap: StreamSocketEvents | null = null;
  // Made on first use: a protocol handler takes the input over at once, and 10,000 idle ones should not each hold one.
  #reader: BufferedReader | undefined;
  // Made on first use: most connections are never awaited, and 10,000 idle ones should not each hold a promise.
  #closedPromise: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;

  /**
   * Wraps an accepted socket.
   *
   * @param socket the transport socket; the connection attaches to it at once
   */
  constructor(socket: StreamSocket) {
    this.#socket = socket;
    this.#tls = socket.tls ?? null;
    socket.attach(this.#events = new ConnectionEvents(this));
  }

  static {
    // Defined here, inside the class, to reach its private state; see the declaration of ConnectionEvents above.
    ConnectionEvents = class implements StreamSocketEvents {
      readonly #connection: Connection;

      constructor(connection: Connection) {
        this.#connection = connection;
      }

      data(chunk: Uint8Array): void {
        const connection = this.#connection;
        if (connection.#tap === null) connection.reader.push(chunk);
        else connection.#tap.data(chunk);
      }

      end(): void {
        const connection = this.#connection;
        if (connection.#tap === null) connection.reader.end();
        else connection.#tap.end();
      }

      error(error: Error): void {
        const connection = this.#connection;
        // A proxy's own connection (a PROXY protocol LOCAL header: a health check) ends with a reset once it has its
        // answer: that is its end of input, not a failure of the handler.
        if (connection.proxyHeader?.command === "LOCAL" && (error as { code?: unknown }).code === "ECONNRESET") {
          connection.#readerOfInput()?.end();
          return;
        }
        connection.#error ??= error;
        connection.#readerOfInput()?.fail(error);
        connection.#rejectWriters(error);
        connection.#tap?.error(error);
      }

      drain(): void {
        const connection = this.#connection;
        for (const waiter of connection.#takeWaiters()) waiter.resolve();
        connection.#tap?.drain();
      }

      close(): void {
        const connection = this.#connection;
        connection.#closed = true;
        connection.#readerOfInput()?.end();
        connection.#rejectWriters(connection.#error);
        connection.#resolveClosed?.();
        connection.#tap?.close();
      }
    };
  }

  /**
   * What the TLS handshake settled (protocol, cipher, ALPN protocol, SNI name, the client's certificate and whether a
   * trusted CA signed it), or `null` on a plain connection: Python's `getpeercert()` and friends, as plain data.
   */
  get tls(): TlsInfo | null {
    return this.#tls;
  }

  /**
   * Upgrades this plain connection to TLS (STARTTLS), with the server's `tls` settings; resolves once the handshake is
   * done. Give the answer to the client's upgrade command as `response` (`"220 Ready to start TLS\r\n"`): reading
   * stops before it is sent, so the client's handshake, which follows it, is read by TLS alone. (An answer written
   * before the call may let the handshake's first bytes be read as plain text, and the upgrade then fails.) From then
   * on `rfile` and `wfile` carry the decrypted stream.
   *
   * Bytes the client sent after its upgrade command and before the answer are plain text, possibly an attacker's
   * (CVE-2011-0411): they are never read as if they came over TLS. When there are any, the upgrade fails with
   * `StartTlsError` and the connection is closed.
   *
   * @param response the answer to the upgrade command, sent in plain text before the handshake
   *
   * @throws {StartTlsError} when the server has no `tls` settings with `mode: "starttls"`, the connection is secured
   *   already, or plain text followed the command
   * @throws {TlsHandshakeError} when the handshake fails or times out (the connection is then closed)
   */
  async startTls(response?: BytesLike): Promise<TlsInfo> {
    const upgrade = this.tlsUpgrade;
    if (upgrade === null) {
      throw new StartTlsError('startTls() needs a server with tls settings and tls.mode "starttls"');
    }
    if (this.#tls !== null) throw new StartTlsError("startTls(): the connection is secured already");
    const socket = this.#socket;
    const events = this.#events;
    const injected = () =>
      new StartTlsError(
        `startTls(): ${this.reader.buffered} bytes of plain text followed the upgrade command; refusing them ` +
          "(they would be read as if they came over TLS: CVE-2011-0411)",
      );
    if (this.reader.buffered > 0) {
      const error = injected();
      this.abort();
      throw error;
    }
    this.tlsUpgrade = null;
    let result: SecuredSocket;
    try {
      result = await upgrade(socket, response === undefined ? null : toBytes(response));
    } catch (error) {
      // The old socket no longer reports to this connection: it ends here.
      events.error(error as Error);
      events.close();
      throw error;
    }
    // Whatever reached the reader meanwhile was read before the handshake: plain text, never part of the TLS stream.
    if (this.reader.buffered > 0) {
      const error = injected();
      result.socket.abort();
      events.error(error);
      events.close();
      throw error;
    }
    const { socket: next, info } = result;
    this.#tls = info;
    if (next !== socket) {
      this.#socket = next;
      this.reader.setFlow(next);
      next.attach(this.#events);
    }
    return info;
  }

  /**
   * The peer's address: `[host, port]`, or a unix path (`""` when the peer has none). Behind a proxy speaking the
   * PROXY protocol, this is the proxy: the client is {@link Connection.clientAddress}.
   */
  get remoteAddress(): SocketAddress {
    return this.#socket.remoteAddress;
  }

  /**
   * The client's address: the source a PROXY protocol header names, otherwise (no header; a LOCAL or UNKNOWN one)
   * the peer's address. The `clientAddress` handlers get.
   */
  get clientAddress(): SocketAddress {
    return this.proxyHeader?.source ?? this.#socket.remoteAddress;
  }

  /** This end's address. */
  get localAddress(): SocketAddress {
    return this.#socket.localAddress;
  }

  /**
   * The transport socket under this connection. For mix-ins that hand the connection to another process; a handler
   * has no use for it.
   */
  get socket(): StreamSocket {
    return this.#socket;
  }

  /** The buffered reader over everything this connection receives (made on first use). */
  get reader(): BufferedReader {
    return this.#reader ??= new BufferedReader(this.#socket);
  }

  /**
   * True when the reader holds input that came before {@link Connection.divert}: bytes, the end, or an error — what a
   * consumer that takes the input over must take first.
   */
  get hasHeldInput(): boolean {
    const reader = this.#reader;
    return reader !== undefined && (reader.buffered > 0 || reader.atEnd);
  }

  /** The reader, where input still goes to it (or it holds some already); `undefined` once diverted without one. */
  #readerOfInput(): BufferedReader | undefined {
    return this.#tap === null ? this.reader : this.#reader;
  }

  /**
   * Hands the connection's input to `events` from now on, in place of {@link Connection.reader}: for handlers that take
   * bytes as they arrive (the protocol handlers of `src/protocol/`). `data` and `end` go to `events` alone; `error`,
   * `drain` and `close` go to it after the connection's own bookkeeping (`closed`, `whenClosed`, `sendAll` waiters).
   * Bytes the reader holds already stay there, for the caller to take first. Once only.
   *
   * @throws {Error} when the input was diverted already
   */
  divert(events: StreamSocketEvents): void {
    if (this.#tap !== null) throw new Error("the connection's input was diverted already");
    this.#tap = events;
  }

  /** True once the connection is fully closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves when the connection is fully closed. */
  get whenClosed(): Promise<void> {
    if (this.#closed) return RESOLVED;
    return this.#closedPromise ??= new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  /** Receives up to `size` bytes; empty at end of input. Python's `socket.recv`. */
  recv(size = 65536): Promise<Uint8Array> {
    return this.reader.read1(size);
  }

  /**
   * Sends every byte (Python's `sendall`), resolving once the transport has taken them below its high-water mark, so a
   * slow peer slows the writer down instead of growing memory. Do not modify `data` after calling.
   */
  sendAll(data: BytesLike): Promise<void> {
    try {
      return this.write(data) ? RESOLVED : this.drained();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Queues bytes without waiting (the stream-style primitive under `sendAll`). Returns `false` when the queue is above
   * its high-water mark: await {@link Connection.drained} before writing more. Do not modify `data` after calling.
   *
   * @throws {Error} when the connection failed or is closed
   */
  write(data: BytesLike): boolean {
    if (this.#error !== null) throw this.#error;
    if (this.#closed) throw new Error("cannot write: the connection is closed");
    const bytes = toBytes(data);
    return bytes.length === 0 || this.#socket.write(bytes);
  }

  /** Resolves when queued bytes have gone out (fails after `timeout`, or when the connection fails). */
  drained(): Promise<void> {
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#closed) return Promise.reject(new Error("cannot write: the connection is closed"));
    if (this.#socket.bufferedAmount === 0) return RESOLVED;
    return this.#waitForDrain();
  }

  /** Half-closes: the peer reads end of input once queued bytes are sent. Python's `shutdown(SHUT_WR)`. */
  closeWrite(): void {
    this.#socket.closeWrite();
  }

  /** Closes once queued bytes are sent. */
  close(): void {
    this.#socket.close();
  }

  /** Closes at once, dropping queued bytes. */
  abort(): void {
    this.#socket.abort();
  }

  /** Sets TCP_NODELAY: small writes go out at once (Python's `disable_nagle_algorithm`). */
  setNoDelay(enabled = true): void {
    this.#socket.setNoDelay(enabled);
  }

  /** Bytes queued for sending and not yet handed to the OS. */
  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  #waitForDrain(): Promise<void> {
    const timeout = this.timeout;
    return new Promise<void>((resolve, reject) => {
      if (timeout === null) {
        this.#waiting().push({ resolve, reject });
        return;
      }
      const timer = setTimeout(() => {
        this.#drainWaiters = this.#drainWaiters.filter((waiter) => waiter !== entry);
        reject(new SocketTimeoutError(timeout));
      }, timeout);
      const entry = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.#waiting().push(entry);
    });
  }

  /** The writers waiting for drain, handed over: none wait afterwards. */
  #takeWaiters(): DrainWaiter[] {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = NO_WAITERS;
    return waiters;
  }

  #waiting(): DrainWaiter[] {
    if (this.#drainWaiters === NO_WAITERS) this.#drainWaiters = [];
    return this.#drainWaiters;
  }

  /** Fails the writers waiting for drain with `error`, or "connection closed" when the connection simply closed. */
  #rejectWriters(error: Error | null): void {
    const waiters = this.#takeWaiters();
    // Most connections close with nobody waiting: then no Error (whose stack capture costs) is made at all.
    if (waiters.length === 0) return;
    const reason = error ?? new Error("connection closed");
    for (const waiter of waiters) waiter.reject(reason);
  }
}
