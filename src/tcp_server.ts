/**
 * Stream servers: `TCPServer` (IPv4 and IPv6) and `UnixStreamServer`.
 *
 * @module
 */
import { BaseServer, type BaseServerOptions, offerRequestDelivery, type RequestEntry } from "./base_server.ts";
import type { RequestHandlerClass } from "./base_request_handler.ts";
import { prepareUnixPath, resolveInetAddress } from "./bind_address.ts";
import { Connection } from "./connection.ts";
import { ConnectionLimitError, ServerStateError } from "./errors.ts";
import type { InetAddress, SocketAddress, StreamListener, StreamSocket, UnixAddress } from "./transport.ts";

/** Options of stream servers. Each may also be set as a subclass field or getter. */
export interface TCPServerOptions extends BaseServerOptions {
  /**
   * Listen backlog (Python's `request_queue_size`), an integer from 1 to 65535. Default 511, as Node and nginx use
   * (Python: 5, too few for bursts of clients); the kernel caps it (Linux: `net.core.somaxconn`). Node passes it to the
   * OS; Deno's and Bun's listen APIs take none and use their own.
   */
  requestQueueSize?: number;
  /**
   * SO_REUSEADDR. The three runtimes always set it on listening TCP sockets, so a restarted server can rebind a port
   * in TIME_WAIT; this flag is kept for Python code that sets it.
   */
  allowReuseAddress?: boolean;
  /** SO_REUSEPORT: several servers share the port (Deno needs `--unstable-net`; Node needs 22.12 or later). */
  allowReusePort?: boolean;
  /**
   * Milliseconds a client has to finish a line it began: a `readline()` (or `for await` over `rfile`) waiting for the
   * rest of a line fails with `SocketTimeoutError` this long after the line's first byte, however the bytes trickle
   * in. Default 60 000 (a 64 KiB line at 9,600 bit/s takes 55 s); `null`: no limit. Reads of a size are not limited.
   */
  lineTimeout?: number | null;
  /**
   * Milliseconds a read may wait with no byte arriving before it fails with `SocketTimeoutError`: the client is idle.
   * Default `null` (no limit), since a well-behaved client may stay connected and silent for hours; set it where
   * idle connections cost (threading mode, many clients).
   */
  idleTimeout?: number | null;
  /**
   * Most connections one client host may have open at once; one more is reset at once (never served, nothing held)
   * and reported to `handleError()` as `ConnectionLimitError`. Default `null` (no cap): many well-behaved clients may
   * share an address behind a NAT, and benchmarks connect from one. Unix sockets have no client address and no cap.
   * In forking mode a connection counts until it is handed to its child (`maxChildren` caps those).
   */
  maxConnectionsPerAddress?: number | null;
}

/** Default of {@link TCPServerOptions.lineTimeout}: 60 s. */
export const DEFAULT_LINE_TIMEOUT = 60_000;

/** How long a closed connection may take to hand its last queued bytes to a peer that does not read, in ms. */
const LINGER = 30_000;

/**
 * Settings of {@link TCPServer} that a subclass may change with a class field or a getter. Declared in an interface
 * merged with the class, so that TypeScript accepts both forms of override.
 */
export interface TCPServer<ServerAddress extends SocketAddress = InetAddress> {
  /** Listen backlog. Default 511. */
  requestQueueSize: number;
  /** SO_REUSEADDR; always in effect on the runtimes (see {@link TCPServerOptions.allowReuseAddress}). */
  allowReuseAddress: boolean;
  /** SO_REUSEPORT. Default `false`. */
  allowReusePort: boolean;
  /** Milliseconds a client has to finish a line it began (see {@link TCPServerOptions.lineTimeout}). Default 60 000. */
  lineTimeout: number | null;
  /** Milliseconds a read waits with no byte arriving (see {@link TCPServerOptions.idleTimeout}). Default `null`. */
  idleTimeout: number | null;
  /** Most connections one client host may have open (see {@link TCPServerOptions.maxConnectionsPerAddress}). */
  maxConnectionsPerAddress: number | null;
}

/**
 * A TCP server (Python's `TCPServer`): `[host, port]` addresses, IPv4 or IPv6 decided by the host
 * (`"127.0.0.1"`, `"::1"`, `""` for all IPv4 interfaces, `"::"` for all). Each request is a {@link Connection}.
 *
 * @example A line echo server, one client at a time, until a client says "quit"
 * ```ts
 * import { StreamRequestHandler, TCPServer } from "@sockserve/sockserve";
 *
 * class Echo extends StreamRequestHandler<TCPServer> {
 *   override async handle() {
 *     for await (const line of this.rfile) {
 *       if (new TextDecoder().decode(line).trim() === "quit") return void this.server.shutdown(); // safe in a handler
 *       await this.wfile.write(line);
 *     }
 *   }
 * }
 *
 * await using server = await new TCPServer(["127.0.0.1", 8000], Echo).listen();
 * await server.serveForever(); // returns once shutdown() is called; `await using` then closes the server
 * ```
 *
 * @example Python's way of setting options: class fields
 * ```ts
 * import { StreamRequestHandler, TCPServer } from "@sockserve/sockserve";
 *
 * class BusyServer extends TCPServer {
 *   override requestQueueSize = 1024; // the listen backlog
 * }
 *
 * const server = new BusyServer(["", 8000], StreamRequestHandler); // "": every IPv4 interface
 * ```
 */
export class TCPServer<ServerAddress extends SocketAddress = InetAddress>
  extends BaseServer<Connection, SocketAddress, ServerAddress> {
  static {
    this.prototype.requestQueueSize = 511;
    this.prototype.allowReuseAddress = false;
    this.prototype.allowReusePort = false;
    this.prototype.lineTimeout = DEFAULT_LINE_TIMEOUT;
    this.prototype.idleTimeout = null;
    this.prototype.maxConnectionsPerAddress = null;
  }

  #listener: StreamListener | undefined;
  #boundPath: string | undefined;
  /** Open connections per client host, counted while `maxConnectionsPerAddress` is set. */
  #openPerHost = new Map<string, number>();
  #closing: Promise<void> | undefined;

  /**
   * Stores the address, handler class and options; `listen()` binds.
   *
   * @param serverAddress `[host, port]` (port 0 picks a free port), or a path for {@link UnixStreamServer}
   * @param RequestHandlerClass usually a {@link StreamRequestHandler} subclass
   * @param options see {@link TCPServerOptions}
   */
  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass<Connection, SocketAddress>,
    options: TCPServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }

  /** `"unix"` for unix stream servers, `"tcp"` otherwise. */
  get transport(): "tcp" | "unix" {
    return "tcp";
  }

  /** Whether `serverBind()` has bound the socket (and `serverClose()` not yet closed it). */
  override isBound(): boolean {
    return this.#listener !== undefined;
  }

  /** Checks the address, then binds and listens (the runtimes do both in one step). */
  override async serverBind(): Promise<void> {
    if (this.#listener !== undefined) throw new ServerStateError("serverBind(): the server is already bound");
    const runtime = this.runtime;
    const backlog = this.requestQueueSize;
    if (!Number.isInteger(backlog) || backlog < 1) {
      throw new RangeError(`requestQueueSize must be a positive integer, got ${backlog}`);
    }
    if (this.transport === "unix") {
      const path = await prepareUnixPath(runtime, this.serverAddress, "unix");
      this.#listener = await runtime.listenStream({ transport: "unix", path, backlog });
      this.#boundPath = path;
    } else {
      const [hostname, port] = await resolveInetAddress(runtime, this.serverAddress);
      this.#listener = await runtime.listenStream({
        transport: "tcp",
        hostname,
        port,
        backlog,
        reusePort: this.allowReusePort,
      });
    }
    offerRequestDelivery(this, this.#listener, TCP_GET_REQUEST, (socket: StreamSocket, deliver) => {
      const connection = new Connection(socket);
      if (this.#admit(connection)) deliver(connection, connection.remoteAddress);
    });
    this.serverAddress = this.#listener.address as ServerAddress;
  }

  /** Takes the next connection; `null` once the server is closed. */
  override async getRequest(): Promise<RequestEntry<Connection, SocketAddress> | null> {
    const listener = this.#listener;
    if (listener === undefined) {
      throw new ServerStateError(
        "the server is not bound: call listen() (or serverBind() and serverActivate() when bindAndActivate is false)",
      );
    }
    for (;;) {
      const socket = await listener.accept();
      if (socket === null) return null;
      const connection = new Connection(socket);
      if (this.#admit(connection)) return [connection, connection.remoteAddress];
    }
  }

  /**
   * Counts the connection against its host's `maxConnectionsPerAddress` until it closes; over the cap, resets it at
   * once and reports a `ConnectionLimitError` instead. True when admitted.
   */
  #admit(connection: Connection): boolean {
    const limit = this.maxConnectionsPerAddress;
    const address = connection.remoteAddress;
    if (limit === null || !Array.isArray(address)) return true;
    const host = address[0];
    const open = this.#openPerHost.get(host) ?? 0;
    if (open >= limit) {
      connection.abort();
      try {
        void Promise.resolve(this.handleError(null, address, new ConnectionLimitError(host, limit))).catch(() => {});
      } catch {
        // handleError failed: the refusal stands.
      }
      return false;
    }
    this.#openPerHost.set(host, open + 1);
    void connection.whenClosed.then(() => {
      const left = (this.#openPerHost.get(host) ?? 1) - 1;
      if (left > 0) this.#openPerHost.set(host, left);
      else this.#openPerHost.delete(host);
    });
    return true;
  }

  /** Half-closes the connection (the client reads end of input), then `closeRequest()`. */
  override shutdownRequest(request: Connection): void | Promise<void> {
    request.closeWrite();
    return this.closeRequest(request);
  }

  /** Closes the connection once queued bytes are sent (reset after 30 s if the peer never reads them). */
  override closeRequest(request: Connection): void | Promise<void> {
    request.close();
    if (request.bufferedAmount > 0 && !request.closed) {
      const timer = setTimeout(() => request.abort(), LINGER);
      void request.whenClosed.then(() => clearTimeout(timer));
    }
  }

  /** Resets the connection. */
  override abortRequest(request: Connection): void | Promise<void> {
    request.abort();
  }

  /** Stops listening, removes the unix socket file, then waits for requests in flight (see `BaseServer`). */
  override serverClose(): Promise<void> {
    this.#closing ??= (async () => {
      const listener = this.#listener;
      this.#listener = undefined;
      try {
        await listener?.close();
      } finally {
        if (this.#boundPath !== undefined) await this.runtime.removeFile(this.#boundPath).catch(() => {});
      }
      await super.serverClose();
    })();
    return this.#closing;
  }
}

const TCP_GET_REQUEST = TCPServer.prototype.getRequest;

/**
 * A unix stream server (Python's `UnixStreamServer`): the address is a socket path. A stale socket file left by a
 * dead server is replaced; a live one is refused with `AddressInUseError`; the file is removed at close.
 *
 * On Deno, binding needs read and write access to the path (`--allow-read --allow-write`) besides `--allow-net`.
 *
 * @example Greeting each client on a unix socket
 * ```ts
 * import { StreamRequestHandler, UnixStreamServer } from "@sockserve/sockserve";
 *
 * class Hello extends StreamRequestHandler {
 *   override async handle() {
 *     await this.wfile.write("hello\n");
 *   }
 * }
 *
 * await using server = await new UnixStreamServer("/tmp/hello.sock", Hello).listen();
 * await server.serveForever(); // clients: nc -U /tmp/hello.sock
 * ```
 */
export class UnixStreamServer extends TCPServer<UnixAddress> {
  /** Always `"unix"`. */
  override get transport(): "tcp" | "unix" {
    return "unix";
  }
}
