/**
 * `StreamProtocol`: the callback shape of stream handlers (asyncio's `Protocol`, Twisted's `Protocol`).
 *
 * @module
 */
import { BaseRequestHandler, CALLBACK_HANDLE, type HandleEnding } from "../base_request_handler.ts";
import type { Connection } from "../connection.ts";
import type { SocketAddress } from "../transport.ts";
import { type StreamProtocolCallbacks, StreamTransport } from "./stream_transport.ts";

/**
 * Settings of {@link StreamProtocol} that a subclass may change with a class field or a getter. Declared in an
 * interface merged with the class, so that TypeScript accepts both forms of override.
 */
export interface StreamProtocol<Server = unknown> {
  /** Set TCP_NODELAY on the connection (default `false`). */
  disableNagleAlgorithm: boolean;
}

/**
 * A stream handler in the callback shape: its methods are called as events happen on the connection, and it writes
 * through {@link StreamProtocol.transport}, with backpressure both ways (see {@link StreamTransport}). Nothing waits
 * between a chunk and its reply, and an idle connection holds no suspended `async` frame: this shape runs at the
 * speed of the runtime's own sockets. Pass the class wherever a stream handler goes (`TCPServer`, `UnixStreamServer`,
 * in every mode): one object serves one connection, as with {@link StreamRequestHandler}.
 *
 * The server's hooks stay as they are: `verifyRequest()` before the connection reaches the protocol,
 * `shutdownRequest()` after `connectionLost()`, `serverClose()` waiting for open connections (`blockOnClose`) and
 * resetting those left after `drainTimeout`. An error thrown by a callback resets the connection and goes to
 * `handleError()`, after `connectionLost()` got it; the server goes on. Connection errors (a reset by the peer) go to
 * `connectionLost()` only.
 *
 * The life of one connection: `connectionMade()`, then `dataReceived()` for each chunk, `eofReceived()` when the peer
 * half-closes (return `true` to go on writing; otherwise the transport closes), and `connectionLost()` once, last.
 * `setup()` and `handle()` run that life: override them only to call `super`.
 *
 * @example An echo server at raw socket speed
 * ```ts
 * import { AsyncTCPServer, StreamProtocol } from "@sockserve/sockserve";
 *
 * class Echo extends StreamProtocol {
 *   override dataReceived(data: Uint8Array) {
 *     this.transport.write(data);
 *   }
 * }
 *
 * await using server = await new AsyncTCPServer(["127.0.0.1", 0], Echo).listen();
 * await server.serveForever();
 * ```
 *
 * @example Running in worker threads: the same class, importable by URL
 * ```ts
 * import { StreamProtocol } from "@sockserve/sockserve/handlers";
 *
 * export class Upper extends StreamProtocol {
 *   static override moduleUrl: string = import.meta.url;
 *   override dataReceived(data: Uint8Array) {
 *     this.transport.write(new TextDecoder().decode(data).toUpperCase());
 *   }
 * }
 * // new ThreadingTCPServer(["127.0.0.1", 8000], Upper)
 * ```
 */
export class StreamProtocol<Server = unknown> extends BaseRequestHandler<Connection, SocketAddress, Server>
  implements StreamProtocolCallbacks {
  static {
    this.prototype.disableNagleAlgorithm = false;
  }

  /** Where to write, and how to pause and resume reading. Set by `setup()`, before `connectionMade()`. */
  transport!: StreamTransport;

  /** Makes the transport and applies `disableNagleAlgorithm`. */
  override setup(): void {
    this.transport = new StreamTransport(this.request, this);
    if (this.disableNagleAlgorithm) this.request.setNoDelay(true);
  }

  /** Runs the connection's life: resolves once `connectionLost()` has run, rejects with what a callback threw. */
  override handle(): Promise<void> {
    return this.transport.start();
  }

  static {
    // The same life, ended by a call: the server's async and threading paths take it (see CALLBACK_HANDLE).
    Object.defineProperty(this.prototype.handle, CALLBACK_HANDLE, {
      value(this: StreamProtocol, ending: HandleEnding): void {
        this.transport.startThen(ending);
      },
    });
  }

  /** The connection is ready. Does nothing by default. */
  connectionMade(_transport: StreamTransport): void {}

  /** Bytes arrived (any split: a chunk is not a message). Does nothing by default. */
  dataReceived(_data: Uint8Array): void {}

  /**
   * The peer half-closed: no more `dataReceived()`. Return `true` to keep the connection open for writing (close it
   * with `transport.close()` or `transport.writeEof()` later); otherwise the transport closes once queued bytes are
   * sent. Returns nothing by default.
   */
  eofReceived(): boolean | void {}

  /** The connection is closed: `error` is `null` after a clean close, else the reason. Does nothing by default. */
  connectionLost(_error: Error | null): void {}

  /** `transport.write()` returned `false`: stop writing until `resumeWriting()`. Does nothing by default. */
  pauseWriting(): void {}

  /** The write queue has drained after `pauseWriting()`. Does nothing by default. */
  resumeWriting(): void {}
}
