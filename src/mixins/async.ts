/**
 * `AsyncMixIn`: each request runs on the event loop while the server takes the next one.
 *
 * @module
 */
import type { RequestHandlerClass } from "../base_request_handler.ts";
import type { Connection } from "../connection.ts";
import type { DatagramRequest } from "../datagram_request_handler.ts";
import { RESOLVED } from "../resolved.ts";
import { TCPServer, type TCPServerOptions, UnixStreamServer } from "../tcp_server.ts";
import type { InetAddress, SocketAddress, UnixAddress } from "../transport.ts";
import { UDPServer, type UDPServerOptions, UnixDatagramServer } from "../udp_server.ts";
import type { ServerClass } from "./server_class.ts";

/** Options `AsyncMixIn` adds. */
export interface AsyncOptions {
  /**
   * Most requests served at once; at the cap the server stops taking requests until one finishes (connections wait
   * in the listen backlog). `null` (default): no cap.
   */
  maxConcurrentRequests?: number | null;
}

/** What `AsyncMixIn` adds to a server. */
export interface AsyncServer {
  /** Most requests served at once, or `null` for no cap. */
  maxConcurrentRequests: number | null;
}

/**
 * Makes `processRequest()` start the handler and return at once, so one server serves many clients concurrently on
 * the event loop (the selector design Python's docs describe but do not ship). Handlers must not block the event loop:
 * for CPU-bound work use the threading mix-in.
 *
 * Requests in flight are tracked: `serverClose()` waits for them (`blockOnClose`, `drainTimeout`).
 *
 * @example A server class of your own, made concurrent
 * ```ts
 * import { AsyncMixIn, type Connection, type SocketAddress, StreamRequestHandler, TCPServer } from "@sockserve/sockserve";
 *
 * class LocalOnlyServer extends TCPServer {
 *   override verifyRequest(_request: Connection, clientAddress: SocketAddress): boolean {
 *     return clientAddress[0] === "127.0.0.1";
 *   }
 * }
 * // The constructor keeps the base class's options type: set the mix-in's options as fields.
 * class AsyncLocalOnlyServer extends AsyncMixIn(LocalOnlyServer) {
 *   override maxConcurrentRequests = 100;
 * }
 *
 * const server = new AsyncLocalOnlyServer(["0.0.0.0", 8000], StreamRequestHandler);
 * ```
 */
// deno-lint-ignore no-explicit-any
export function AsyncMixIn<Base extends ServerClass>(base: Base): Base & (new (...args: any[]) => AsyncServer) {
  class AsyncServerMixIn extends base implements AsyncServer {
    declare maxConcurrentRequests: number | null;
    static {
      this.prototype.maxConcurrentRequests = null;
    }

    override processRequest(request: unknown, clientAddress: unknown): Promise<void> {
      const cap = this.maxConcurrentRequests;
      if (cap !== null) return this.#processWithin(cap, request, clientAddress);
      this.startRequest(request, clientAddress);
      // The shared resolved promise tells the serve loop that the request was handed on and nothing needs waiting for.
      return RESOLVED;
    }

    async #processWithin(cap: number, request: unknown, clientAddress: unknown): Promise<void> {
      if (!Number.isInteger(cap) || cap < 1) {
        throw new RangeError(`maxConcurrentRequests must be a positive integer or null, got ${cap}`);
      }
      await this.waitForCapacity(cap);
      this.startRequest(request, clientAddress);
    }
  }
  return AsyncServerMixIn;
}

/** `AsyncMixIn(TCPServer)`: the class {@link AsyncTCPServer} extends. Use `AsyncTCPServer` itself. */
// deno-lint-ignore no-explicit-any
export const AsyncTCPServerBase: typeof TCPServer & (new (...args: any[]) => AsyncServer) = AsyncMixIn(TCPServer);

/**
 * A TCP server serving each connection concurrently on the event loop: the usual choice for I/O-bound handlers.
 *
 * @example A line echo server for many clients at once
 * ```ts
 * import { AsyncTCPServer, StreamRequestHandler } from "@sockserve/sockserve";
 *
 * class Echo extends StreamRequestHandler {
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 *
 * // At 1000 connections served, the server stops accepting until one ends: the others wait in the listen backlog.
 * await using server = await new AsyncTCPServer(["127.0.0.1", 0], Echo, { maxConcurrentRequests: 1000 }).listen();
 * console.log("listening on", server.serverAddress);
 * await server.serveForever();
 * ```
 */
export class AsyncTCPServer extends AsyncTCPServerBase {
  /**
   * Stores the address, handler class and options; `listen()` binds.
   *
   * @param serverAddress `[host, port]`
   * @param RequestHandlerClass usually a `StreamRequestHandler` subclass
   * @param options stream server options and `maxConcurrentRequests`
   */
  constructor(
    serverAddress: InetAddress,
    RequestHandlerClass: RequestHandlerClass<Connection, SocketAddress>,
    options: TCPServerOptions & AsyncOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }
}

/** `AsyncMixIn(UnixStreamServer)`: the class {@link AsyncUnixStreamServer} extends. Use `AsyncUnixStreamServer` itself. */
// deno-lint-ignore no-explicit-any
export const AsyncUnixStreamServerBase: typeof UnixStreamServer & (new (...args: any[]) => AsyncServer) = AsyncMixIn(
  UnixStreamServer,
);

/** A unix stream server serving each connection concurrently on the event loop. */
export class AsyncUnixStreamServer extends AsyncUnixStreamServerBase {
  /**
   * Stores the address, handler class and options; `listen()` binds.
   *
   * @param serverAddress the socket path
   * @param RequestHandlerClass usually a `StreamRequestHandler` subclass
   * @param options stream server options and `maxConcurrentRequests`
   */
  constructor(
    serverAddress: UnixAddress,
    RequestHandlerClass: RequestHandlerClass<Connection, SocketAddress>,
    options: TCPServerOptions & AsyncOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }
}

/** `AsyncMixIn(UDPServer)`: the class {@link AsyncUDPServer} extends. Use `AsyncUDPServer` itself. */
// deno-lint-ignore no-explicit-any
export const AsyncUDPServerBase: typeof UDPServer & (new (...args: any[]) => AsyncServer) = AsyncMixIn(UDPServer);

/** A UDP server handling datagrams concurrently on the event loop. */
export class AsyncUDPServer extends AsyncUDPServerBase {
  /**
   * Stores the address, handler class and options; `listen()` binds.
   *
   * @param serverAddress `[host, port]`
   * @param RequestHandlerClass usually a `DatagramRequestHandler` subclass
   * @param options datagram server options and `maxConcurrentRequests`
   */
  constructor(
    serverAddress: InetAddress,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest, SocketAddress | null>,
    options: UDPServerOptions & AsyncOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }
}

/** `AsyncMixIn(UnixDatagramServer)`: the class {@link AsyncUnixDatagramServer} extends. Use `AsyncUnixDatagramServer` itself. */
// deno-lint-ignore no-explicit-any
export const AsyncUnixDatagramServerBase: typeof UnixDatagramServer & (new (...args: any[]) => AsyncServer) =
  AsyncMixIn(UnixDatagramServer);

/** A unix datagram server handling datagrams concurrently on the event loop (Deno only). */
export class AsyncUnixDatagramServer extends AsyncUnixDatagramServerBase {
  /**
   * Stores the address, handler class and options; `listen()` binds.
   *
   * @param serverAddress the socket path
   * @param RequestHandlerClass usually a `DatagramRequestHandler` subclass
   * @param options datagram server options and `maxConcurrentRequests`
   */
  constructor(
    serverAddress: UnixAddress,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest, SocketAddress | null>,
    options: UDPServerOptions & AsyncOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }
}
