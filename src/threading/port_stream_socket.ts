/**
 * The worker's view of a connection the main thread holds: a {@link StreamSocket} whose bytes cross the worker's
 * `MessagePort`, so that an unchanged `Connection` and `StreamRequestHandler` (rfile, wfile, timeouts, half-close)
 * run in the worker.
 *
 * @module
 */
import { StartTlsError } from "../tls/errors.ts";
import type { TlsInfo } from "../tls/info.ts";
import type { SecuredSocket, SocketAddress, StreamSocket, StreamSocketEvents } from "../transport.ts";
import { errorFromReport } from "./error_report.ts";
import {
  ACK_BATCH,
  type FromWorker,
  MAX_CHUNK,
  type Post,
  STREAM_WINDOW,
  type ToWorker,
  transferableBytes,
} from "./protocol.ts";

const END: unique symbol = Symbol("end");

/**
 * A stream socket over messages. Writes are sent as credit allows (at most {@link STREAM_WINDOW} bytes unacknowledged
 * by the main thread); what does not fit waits here as views of the caller's bytes, and `write()` returns `false` so
 * the writer waits for `drain`. Received bytes are acknowledged once handed to the consumer; while the consumer has
 * paused the socket they wait here, and the main thread, out of credit, stops reading the real socket.
 */
export class PortStreamSocket implements StreamSocket {
  readonly localAddress: SocketAddress;
  readonly remoteAddress: SocketAddress;
  /** What the handshake settled, when the main thread secured the connection. */
  tls: TlsInfo | null = null;
  #upgrade: { resolve: (secured: SecuredSocket) => void; reject: (error: Error) => void; injected: number } | null =
    null;
  #id: number;
  #post: Post<FromWorker>;
  #events: StreamSocketEvents | null = null;
  // Receiving.
  #inbound: Array<Uint8Array | typeof END> = [];
  #paused = false;
  #unacknowledged = 0;
  #ended = false;
  // Sending.
  #outbound: Uint8Array[] = [];
  #queued = 0;
  #inFlight = 0;
  #wantDrain = false;
  #writeClosing = false;
  #closing = false;
  #finSent = false;
  #aborted = false;
  #closed = false;
  #failed = false;
  #flushWaiters: Array<() => void> = [];

  /**
   * @param id the request's id on the port
   * @param localAddress the server's end of the connection
   * @param remoteAddress the client's end
   * @param post sends a message to the main thread
   */
  constructor(id: number, localAddress: SocketAddress, remoteAddress: SocketAddress, post: Post<FromWorker>) {
    this.#id = id;
    this.localAddress = localAddress;
    this.remoteAddress = remoteAddress;
    this.#post = post;
  }

  /** Bytes written and not yet acknowledged by the main thread (queued here or in flight). */
  get bufferedAmount(): number {
    return this.#queued + this.#inFlight;
  }

  attach(events: StreamSocketEvents): void {
    this.#events = events;
    this.#deliver();
  }

  /** Takes a message the main thread sent about this request. */
  onMessage(message: ToWorker): void {
    switch (message.type) {
      case "data":
        if (this.#ended || this.#closed) return;
        // Sent by the main thread before it saw the upgrade request: plain text after the command.
        if (this.#upgrade !== null) this.#upgrade.injected += message.chunk.length;
        this.#inbound.push(message.chunk);
        this.#deliver();
        return;
      case "end":
        if (this.#ended || this.#closed) return;
        this.#ended = true;
        this.#inbound.push(END);
        this.#deliver();
        return;
      case "credit":
        this.#inFlight -= message.bytes;
        this.#sendQueued();
        return;
      case "fail":
        this.#fail(errorFromReport(message.error));
        return;
      case "closed":
        this.#close();
        this.#upgrade?.reject(new Error("connection closed"));
        this.#upgrade = null;
        return;
      case "tlsStarted":
      case "tlsFailed": {
        const upgrade = this.#upgrade;
        this.#upgrade = null;
        if (upgrade === null) return;
        if (message.type === "tlsFailed") return upgrade.reject(errorFromReport(message.error));
        if (upgrade.injected > 0) {
          this.abort();
          return upgrade.reject(
            new StartTlsError(
              `startTls(): ${upgrade.injected} bytes of plain text followed the upgrade command; refusing them ` +
                "(they would be read as if they came over TLS: CVE-2011-0411)",
            ),
          );
        }
        this.tls = message.info;
        upgrade.resolve({ socket: this, info: message.info });
        return;
      }
    }
  }

  /**
   * Asks the main thread, which holds the socket, to run the TLS handshake on it; resolves with this same socket
   * once it carries the decrypted stream.
   */
  async startTls(response: Uint8Array | null): Promise<SecuredSocket> {
    if (this.#upgrade !== null) throw new StartTlsError("startTls(): an upgrade is under way");
    // Posted before the request, the handler's last plain writes reach the client first.
    await this.flushed();
    const undelivered = this.#inbound.reduce((sum, item) => sum + (item === END ? 0 : item.length), 0);
    return await new Promise((resolve, reject) => {
      this.#upgrade = { resolve, reject, injected: undelivered };
      this.#post({ type: "startTls", id: this.#id, response });
    });
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#deliver();
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed || this.#failed || this.#writeClosing || this.#closing) return true;
    if (chunk.length > 0) {
      this.#outbound.push(chunk);
      this.#queued += chunk.length;
      this.#sendQueued();
    }
    if (this.bufferedAmount < STREAM_WINDOW) return true;
    this.#wantDrain = true;
    return false;
  }

  closeWrite(): void {
    if (this.#writeClosing || this.#closing || this.#closed) return;
    this.#writeClosing = true;
    this.#sendQueued();
  }

  close(): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    this.#sendQueued();
  }

  abort(): void {
    if (this.#closed || this.#aborted) return;
    // Nothing more is sent: the main thread resets the connection, then says it is closed.
    this.#aborted = true;
    this.#closing = true;
    this.#finSent = true;
    this.#dropOutbound();
    this.#post({ type: "abort", id: this.#id });
  }

  setNoDelay(enabled: boolean): void {
    if (!this.#closed) this.#post({ type: "noDelay", id: this.#id, enabled });
  }

  /** Resolves once every byte written has been sent to the main thread (or can no longer be). */
  flushed(): Promise<void> {
    if (this.#outbound.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  /** Hands received bytes to the consumer while it is not paused, acknowledging them in batches. */
  #deliver(): void {
    const events = this.#events;
    if (events === null) return;
    while (this.#inbound.length > 0 && !this.#paused && !this.#closed) {
      const item = this.#inbound.shift()!;
      if (item === END) {
        events.end();
        continue;
      }
      this.#unacknowledged += item.length;
      events.data(item);
    }
    if (this.#unacknowledged >= ACK_BATCH && !this.#closed) {
      this.#post({ type: "credit", id: this.#id, bytes: this.#unacknowledged });
      this.#unacknowledged = 0;
    }
  }

  /** Sends queued bytes as far as credit allows, then the half-close or close that waited for them. */
  #sendQueued(): void {
    while (this.#outbound.length > 0 && this.#inFlight < STREAM_WINDOW && !this.#closed) {
      const first = this.#outbound[0];
      const piece = first.length > MAX_CHUNK ? first.subarray(0, MAX_CHUNK) : first;
      if (piece === first) this.#outbound.shift();
      else this.#outbound[0] = first.subarray(MAX_CHUNK);
      // Always a copy: the handler may reuse or still read the bytes it wrote.
      const chunk = transferableBytes(piece, false);
      this.#queued -= chunk.length;
      this.#inFlight += chunk.length;
      this.#post({ type: "data", id: this.#id, chunk }, [chunk.buffer]);
    }
    if (this.#outbound.length > 0) return;
    this.#resolveFlushed();
    if (this.#closed) return;
    if (this.#closing && !this.#finSent) {
      this.#finSent = true;
      this.#post({ type: "close", id: this.#id });
    } else if (this.#writeClosing && !this.#finSent) {
      this.#finSent = true;
      this.#post({ type: "closeWrite", id: this.#id });
    }
    if (this.#wantDrain && this.bufferedAmount < STREAM_WINDOW) {
      this.#wantDrain = false;
      this.#events?.drain();
    }
  }

  #fail(error: Error): void {
    if (this.#failed || this.#closed) return;
    this.#failed = true;
    this.#dropOutbound();
    this.#events?.error(error);
  }

  /** The main thread's connection is closed: what was received is handed over, then `close`. */
  #close(): void {
    if (this.#closed) return;
    const events = this.#events;
    if (events !== null) {
      // Pausing is advice: the bytes are here already, and writers waiting for `drain` must learn of the close.
      for (const item of this.#inbound) {
        if (item === END) events.end();
        else events.data(item);
      }
      this.#inbound = [];
    }
    this.#closed = true;
    this.#dropOutbound();
    events?.close();
  }

  #dropOutbound(): void {
    this.#outbound = [];
    this.#queued = 0;
    this.#resolveFlushed();
  }

  #resolveFlushed(): void {
    const waiters = this.#flushWaiters;
    this.#flushWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
