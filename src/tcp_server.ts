/**
 * Stream servers: `TCPServer` (IPv4 and IPv6) and `UnixStreamServer`.
 *
 * @module
 */
import { BaseServer, type BaseServerOptions, type RequestEntry } from "./base_server.ts";
import { offerRequestDelivery } from "./request_delivery.ts";
import type { RequestHandlerClass } from "./base_request_handler.ts";
import { formatAddress } from "./address.ts";
import { prepareUnixPath, resolveInetAddress } from "./bind_address.ts";
import { Connection } from "./connection.ts";
import { ConnectionLimitError, ServerStateError, UnsupportedError } from "./errors.ts";
import { type ConnectionStage, PreparedConnections } from "./preamble.ts";
import { ProxyProtocolError } from "./proxy/errors.ts";
import { type ProxyProtocolOptions, proxyProtocolStages } from "./proxy/options.ts";
import { TlsHandshakeError } from "./tls/errors.ts";
import { FailureLog } from "./tls/failure_log.ts";
import { TlsListener } from "./tls/listener.ts";
import { type TlsConfig, tlsConfig, type TlsOptions } from "./tls/options.ts";
import { offerStartTls } from "./tls/upgrade.ts";
import type {
  InetAddress,
  Runtime,
  SocketAddress,
  StreamListener,
  StreamSocket,
  TlsContext,
  UnixAddress,
} from "./transport.ts";

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
   * Serve an already-listening socket by its file descriptor instead of binding `serverAddress` (which is then
   * ignored and replaced by the socket's own address): one inherited from a parent process, or from systemd socket
   * activation (see `listenFdsFromEnvironment()`). Works in every mode, on the three runtimes (through `node:net`).
   * Default `null`: bind.
   */
  listenFd?: number | null;
  /**
   * Every connection starts with a PROXY protocol header (v1 or v2, from HAProxy, nginx or a cloud load balancer),
   * read before `verifyRequest()`: `clientAddress` is the client it names, and `request.proxyHeader` the whole header.
   * A connection with an invalid, late or untrusted header is closed without a reply (see
   * {@link TCPServer.handleRejectedConnection}). Default `null`: no header is expected (it is never guessed).
   */
  proxyProtocol?: ProxyProtocolOptions | null;
  /**
   * Serve TLS (Python's `SSLContext.wrap_socket(..., server_side=True)`), in every mode: certificates, SNI, ALPN,
   * client certificates, minimum version, handshake timeout, or STARTTLS. See {@link TlsOptions}. Default `null`.
   */
  tls?: TlsOptions | null;
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

/**
 * Set (to `true`) on the prototype of servers that must not read their connections (the forking servers': a connection
 * the parent has read from does not survive the handoff intact on every runtime). Their preamble only checks that the
 * peer is a trusted proxy; the PROXY header is read where the connection is served (in the child process).
 */
export const CONNECTIONS_HANDED_ON_UNREAD: unique symbol = Symbol("connections handed on unread");

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
  /** The inherited listening socket to serve (see {@link TCPServerOptions.listenFd}). Default `null`: bind. */
  listenFd: number | null;
  /** The PROXY protocol (see {@link TCPServerOptions.proxyProtocol}). Default `null`: none. */
  proxyProtocol: ProxyProtocolOptions | null;
  /** TLS settings (see {@link TCPServerOptions.tls}); `null` serves plain text. Default `null`. */
  tls: TlsOptions | null;
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
    this.prototype.listenFd = null;
    this.prototype.proxyProtocol = null;
    this.prototype.tls = null;
    this.prototype.lineTimeout = DEFAULT_LINE_TIMEOUT;
    this.prototype.idleTimeout = null;
    this.prototype.maxConnectionsPerAddress = null;
  }

  #listener: StreamListener | undefined;
  #prepared: PreparedConnections | undefined;
  #tlsConfig: TlsConfig | null = null;
  #tlsContext: TlsContext | null = null;
  #tlsLog: FailureLog | undefined;
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
    const stages = this.connectionStages();
    const runtime = this.runtime;
    const backlog = this.requestQueueSize;
    if (!Number.isInteger(backlog) || backlog < 1) {
      throw new RangeError(`requestQueueSize must be a positive integer, got ${backlog}`);
    }
    // TLS settings are checked, certificates and keys read, before anything is bound.
    const config = this.tls === null || this.tls === undefined ? null : tlsConfig(this.tls);
    const tlsSupport = config === null ? undefined : runtime.tls;
    if (config !== null && tlsSupport === undefined) {
      throw new UnsupportedError(`TLS is not available with the ${runtime.name} runtime adapter`);
    }
    const here = this.#readsHere;
    const context = config === null || !here ? null : await tlsSupport!.createContext(config);
    if (config !== null && context === null) await checkTlsConfig(tlsSupport!, config);
    const listen = tlsSupport !== undefined && here
      ? tlsSupport.listenStream.bind(tlsSupport)
      : runtime.listenStream.bind(runtime);
    let listener: StreamListener;
    const fd = this.listenFd;
    if (fd !== null && fd !== undefined) {
      if (!Number.isInteger(fd) || fd < 0) {
        throw new RangeError(`listenFd must be a file descriptor (0 or more), got ${fd}`);
      }
      // The socket is someone else's: its unix path (if any) is not this server's to remove.
      listener = this.transport === "unix"
        ? await listen({ transport: "unix", path: String(this.serverAddress ?? ""), backlog, fd })
        : await listen({ transport: "tcp", hostname: "", port: 0, backlog, reusePort: false, fd });
    } else if (this.transport === "unix") {
      const path = await prepareUnixPath(runtime, this.serverAddress, "unix");
      listener = await listen({ transport: "unix", path, backlog });
      this.#boundPath = path;
    } else {
      const [hostname, port] = await resolveInetAddress(runtime, this.serverAddress);
      listener = await listen({ transport: "tcp", hostname, port, backlog, reusePort: this.allowReusePort });
    }
    this.#tlsConfig = config;
    this.#tlsContext = context;
    if (context !== null && config!.mode === "implicit") {
      // After the other stages (a PROXY protocol header comes before the handshake), or on its own in the listener.
      if (stages.length > 0) stages.push(this.#handshakeStage(context));
      else {
        listener = new TlsListener(listener, context, (error, clientAddress) => this.#tlsFailed(error, clientAddress));
      }
    }
    this.#listener = listener;
    if (stages.length > 0) {
      // Connections become requests once through their stages, some later than others: taken from the listener here.
      this.#prepared = new PreparedConnections(
        listener,
        stages,
        (connection, error) => this.#rejected(connection, error),
        // Counted by the client the header names: behind a proxy every connection comes from the proxy's address.
        // Where connections are handed on unread (the header is read in the child), the client is not known here.
        here || this.proxyProtocol == null ? (connection) => this.#admit(connection) : undefined,
      );
      offerRequestDelivery(this, this.#prepared, TCP_GET_REQUEST, (entry, deliver) => deliver(entry[0], entry[1]));
    } else {
      offerRequestDelivery(this, listener, TCP_GET_REQUEST, (socket: StreamSocket, deliver) => {
        const connection = this.#connectionOf(socket);
        if (this.#admit(connection)) deliver(connection, connection.remoteAddress);
      });
    }
    this.serverAddress = listener.address as ServerAddress;
  }

  /** The checked `tls` settings in force (JSON data, defaults filled in), or `null` for a plain server. */
  get tlsConfig(): TlsConfig | null {
    return this.#tlsConfig;
  }

  /**
   * Replaces the certificates and other TLS settings of a running server: connections that start their handshake from
   * now on get the new ones; open connections keep theirs. In every mode (a forking server's children get them with
   * their next request). `mode` cannot change.
   *
   * @throws {ServerStateError} when the server is not bound with TLS
   * @throws {TlsConfigError} when a certificate or key cannot be used (the settings in force stay)
   */
  async setTlsOptions(options: TlsOptions): Promise<void> {
    const current = this.#tlsConfig;
    if (current === null) throw new ServerStateError("setTlsOptions(): the server is not bound with tls settings");
    const config = tlsConfig(options);
    if (config.mode !== current.mode) {
      throw new TypeError(`setTlsOptions(): tls.mode cannot change on a running server (it is "${current.mode}")`);
    }
    if (this.#tlsContext !== null) this.#tlsContext.update(config);
    else await checkTlsConfig(this.runtime.tls!, config);
    this.#tlsConfig = config;
    this.tls = options;
  }

  /**
   * Called for each failed TLS handshake (no or an untrusted client certificate, no common protocol version, a client
   * that sent no ClientHello within `handshakeTimeout`, …). The connection is closed already and never reached
   * `verifyRequest` or a handler; the server goes on. By default, one line on stderr, without a stack, at most ten
   * per 10 s (then how many were left out). Override to log elsewhere, count, or keep quiet.
   *
   * @param error a `TlsHandshakeError`
   * @param clientAddress the client's address
   */
  handleTlsError(error: Error, clientAddress: SocketAddress): void | Promise<void> {
    (this.#tlsLog ??= new FailureLog()).report(error, clientAddress);
  }

  /**
   * The TLS handshake as a connection stage: on a connection whose other stages read from it (a PROXY protocol
   * header), the bytes read past them are the handshake's start, and go to it first. The secured connection keeps the
   * header.
   */
  #handshakeStage(context: TlsContext): ConnectionStage {
    return async (connection) => {
      const reader = connection.reader;
      const { socket } = await context.secure(connection.socket, () => reader.takeBuffered());
      const secured = new Connection(socket);
      secured.proxyHeader = connection.proxyHeader;
      return secured;
    };
  }

  #tlsFailed(error: Error, clientAddress: SocketAddress): void {
    try {
      const reported = this.handleTlsError(error, clientAddress);
      if (reported instanceof Promise) reported.catch((failure) => console.error("handleTlsError() failed:", failure));
    } catch (failure) {
      console.error("handleTlsError() failed:", failure);
    }
  }

  #connectionOf(socket: StreamSocket): Connection {
    const connection = new Connection(socket);
    const context = this.#tlsContext;
    if (context !== null && this.#tlsConfig!.mode === "starttls") {
      offerStartTls(connection, context, socket, null, (error) => this.#tlsFailed(error, connection.remoteAddress));
    }
    return connection;
  }

  /** Takes the next connection; `null` once the server is closed. */
  override async getRequest(): Promise<RequestEntry<Connection, SocketAddress> | null> {
    const listener = this.#listener;
    if (listener === undefined) {
      throw new ServerStateError(
        "the server is not bound: call listen() (or serverBind() and serverActivate() when bindAndActivate is false)",
      );
    }
    if (this.#prepared !== undefined) return this.#prepared.next();
    for (;;) {
      const socket = await listener.accept();
      if (socket === null) return null;
      const connection = this.#connectionOf(socket);
      if (this.#admit(connection)) return [connection, connection.remoteAddress];
    }
  }

  /**
   * Counts the connection against its client host's `maxConnectionsPerAddress` until it closes (the host a PROXY
   * protocol header names, once read); over the cap, resets it at once and reports a `ConnectionLimitError` instead.
   * True when admitted.
   */
  #admit(connection: Connection): boolean {
    const limit = this.maxConnectionsPerAddress;
    const address = connection.clientAddress;
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

  /** Whether connections are read here (TLS handshake, PROXY header), not handed on unread to a child process. */
  get #readsHere(): boolean {
    return (this as { [CONNECTIONS_HANDED_ON_UNREAD]?: boolean })[CONNECTIONS_HANDED_ON_UNREAD] !== true;
  }

  /**
   * The steps each accepted connection goes through before it becomes a request (before `verifyRequest()`), in
   * order: reading the PROXY protocol header when {@link TCPServer.proxyProtocol} is set. Called once, when binding.
   * Steps of different connections run concurrently; a step that throws closes its connection without a reply and
   * the error goes to {@link TCPServer.handleRejectedConnection}. Override to add a step after these (call `super`).
   */
  connectionStages(): ConnectionStage[] {
    return proxyProtocolStages(this.proxyProtocol, this.#readsHere);
  }

  /**
   * Called for each connection closed before it became a request, because a connection stage refused it (a
   * `ProxyProtocolError`: an invalid, late, untrusted or missing PROXY header). Prints one line to stderr, except for
   * connections that closed or were reset without sending a header (`code` `"closed"`): health checks and port scans.
   * Override to log or count otherwise; `handleError()` is not called, since no request was made.
   */
  handleRejectedConnection(connection: Connection, error: unknown): void | Promise<void> {
    if (error instanceof ProxyProtocolError && error.code === "closed") return;
    const reason = error instanceof Error ? error.message : String(error);
    console.error(`Connection from ${formatAddress(connection.remoteAddress)} closed before its request: ${reason}`);
  }

  #rejected(connection: Connection, error: unknown): void {
    // A handshake that failed after the PROXY header: reported as every failed handshake is.
    if (error instanceof TlsHandshakeError) return this.#tlsFailed(error, connection.clientAddress);
    let reporting: void | Promise<void>;
    try {
      reporting = this.handleRejectedConnection(connection, error);
    } catch (failure) {
      reporting = Promise.reject(failure);
    }
    void Promise.resolve(reporting).catch((failure) =>
      console.error("handleRejectedConnection() itself failed; the server goes on:", failure)
    );
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
        this.#prepared?.close();
        if (this.#boundPath !== undefined) await this.runtime.removeFile(this.#boundPath).catch(() => {});
      }
      await super.serverClose();
    })();
    return this.#closing;
  }
}

const TCP_GET_REQUEST = TCPServer.prototype.getRequest;

/** Checks certificates and keys where this process secures no connection itself (their context is thrown away). */
async function checkTlsConfig(support: NonNullable<Runtime["tls"]>, config: TlsConfig): Promise<void> {
  await support.createContext(config);
}

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
