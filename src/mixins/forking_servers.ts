/**
 * The forking servers: {@link ForkingMixIn} applied to each server class, with Python's names (`ForkingTCPServer`,
 * `ForkingUnixStreamServer`, `ForkingUDPServer`, `ForkingUnixDatagramServer`). How forking works is in
 * `./forking.ts`.
 *
 * @module
 */
import type { RequestHandlerClass } from "../base_request_handler.ts";
import type { DatagramRequest } from "../datagram_request_handler.ts";
import type { Connection } from "../connection.ts";
import type { ForkingOptions, ForkingServer } from "../forking/options.ts";
import { TCPServer, type TCPServerOptions, UnixStreamServer } from "../tcp_server.ts";
import type { InetAddress, SocketAddress, UnixAddress } from "../transport.ts";
import { UDPServer, type UDPServerOptions, UnixDatagramServer } from "../udp_server.ts";
import { ForkingMixIn } from "./forking.ts";

/** `ForkingMixIn(TCPServer)`: the class {@link ForkingTCPServer} extends. Use `ForkingTCPServer` itself. */
// deno-lint-ignore no-explicit-any
export const ForkingTCPServerBase: typeof TCPServer & (new (...args: any[]) => ForkingServer) = ForkingMixIn(TCPServer);

/**
 * A TCP server serving each connection in a child process (Python's `ForkingTCPServer`), so that a crash, a leak or a
 * state change in one request cannot touch the server or other requests. The handler class needs
 * `static override moduleUrl = import.meta.url;` and must be exported. On Deno, the server needs `--allow-run` and
 * `--allow-env` to start children, which get only {@link ForkingOptions.childPermissions} (default: none).
 *
 * @example A handler whose crashes cannot take the server down
 * ```ts
 * // handlers.ts: the module children import the handler from. Keep the server out of it, or each child importing it
 * // would start a server of its own. Importing from ".../handlers" keeps each child's start light.
 * import { StreamRequestHandler } from "@sockserve/sockserve/handlers";
 *
 * export class Risky extends StreamRequestHandler {
 *   static override moduleUrl: string = import.meta.url;
 *   override async handle() {
 *     const document = JSON.parse(new TextDecoder().decode(await this.rfile.read())); // may throw, or worse
 *     await this.wfile.write(`${Object.keys(document).length} keys\n`);
 *   }
 * }
 *
 * // server.ts: imports Risky from "./handlers.ts".
 * import { ForkingTCPServer } from "@sockserve/sockserve";
 *
 * await using server = await new ForkingTCPServer(["127.0.0.1", 8000], Risky, { maxChildren: 8 }).listen();
 * await server.serveForever();
 * ```
 */
export class ForkingTCPServer extends ForkingTCPServerBase {
  /**
   * Stores the address, handler class and options; `listen()` binds and starts the spare children.
   *
   * @param serverAddress `[host, port]`
   * @param RequestHandlerClass a `StreamRequestHandler` subclass importable by URL
   * @param options stream server options and {@link ForkingOptions}
   */
  constructor(
    serverAddress: InetAddress,
    RequestHandlerClass: RequestHandlerClass<Connection, SocketAddress>,
    options: TCPServerOptions & ForkingOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }
}

/** `ForkingMixIn(UnixStreamServer)`: the class {@link ForkingUnixStreamServer} extends. */
// deno-lint-ignore no-explicit-any
export const ForkingUnixStreamServerBase: typeof UnixStreamServer & (new (...args: any[]) => ForkingServer) =
  ForkingMixIn(
    UnixStreamServer,
  );

/** A unix stream server serving each connection in a child process (Python's `ForkingUnixStreamServer`). */
export class ForkingUnixStreamServer extends ForkingUnixStreamServerBase {
  /**
   * Stores the address, handler class and options; `listen()` binds and starts the spare children.
   *
   * @param serverAddress the socket path
   * @param RequestHandlerClass a `StreamRequestHandler` subclass importable by URL
   * @param options stream server options and {@link ForkingOptions}
   */
  constructor(
    serverAddress: UnixAddress,
    RequestHandlerClass: RequestHandlerClass<Connection, SocketAddress>,
    options: TCPServerOptions & ForkingOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }
}

/** `ForkingMixIn(UDPServer)`: the class {@link ForkingUDPServer} extends. */
// deno-lint-ignore no-explicit-any
export const ForkingUDPServerBase: typeof UDPServer & (new (...args: any[]) => ForkingServer) = ForkingMixIn(UDPServer);

/**
 * A UDP server handling each datagram in a child process (Python's `ForkingUDPServer`): the child gets the packet and
 * the client's address; its replies leave through the server's socket.
 */
export class ForkingUDPServer extends ForkingUDPServerBase {
  /**
   * Stores the address, handler class and options; `listen()` binds and starts the spare children.
   *
   * @param serverAddress `[host, port]`
   * @param RequestHandlerClass a `DatagramRequestHandler` subclass importable by URL
   * @param options datagram server options and {@link ForkingOptions}
   */
  constructor(
    serverAddress: InetAddress,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest, SocketAddress | null>,
    options: UDPServerOptions & ForkingOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }
}

/** `ForkingMixIn(UnixDatagramServer)`: the class {@link ForkingUnixDatagramServer} extends. */
// deno-lint-ignore no-explicit-any
export const ForkingUnixDatagramServerBase: typeof UnixDatagramServer & (new (...args: any[]) => ForkingServer) =
  ForkingMixIn(UnixDatagramServer);

/**
 * A unix datagram server handling each datagram in a child process (Python's `ForkingUnixDatagramServer`). Deno only:
 * Bun and Node have no unix datagram sockets and refuse to bind with `UnsupportedError`.
 */
export class ForkingUnixDatagramServer extends ForkingUnixDatagramServerBase {
  /**
   * Stores the address, handler class and options; `listen()` binds and starts the spare children.
   *
   * @param serverAddress the socket path
   * @param RequestHandlerClass a `DatagramRequestHandler` subclass importable by URL
   * @param options datagram server options and {@link ForkingOptions}
   */
  constructor(
    serverAddress: UnixAddress,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest, SocketAddress | null>,
    options: UDPServerOptions & ForkingOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }
}
