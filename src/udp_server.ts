/**
 * Datagram servers: `UDPServer` (IPv4 and IPv6) and `UnixDatagramServer`.
 *
 * @module
 */
import { BaseServer, type BaseServerOptions, type RequestEntry } from "./base_server.ts";
import { offerRequestDelivery } from "./request_delivery.ts";
import type { RequestHandlerClass } from "./base_request_handler.ts";
import { prepareUnixPath, resolveInetAddress } from "./bind_address.ts";
import type { DatagramRequest } from "./datagram_request_handler.ts";
import { DatagramTooLargeError, ServerStateError } from "./errors.ts";
import type { Datagram, DatagramSocket, InetAddress, SocketAddress, UnixAddress } from "./transport.ts";

type DatagramEntry = RequestEntry<DatagramRequest, SocketAddress | null>;

/** Options of datagram servers. Each may also be set as a subclass field or getter. */
export interface UDPServerOptions extends BaseServerOptions {
  /**
   * Longest datagram accepted, in bytes. Default 65535, which holds every legal UDP datagram; a longer one is reported
   * to `handleError()` as {@link DatagramTooLargeError} and dropped, never silently cut (Python cuts at 8192).
   */
  maxPacketSize?: number;
  /** SO_REUSEADDR on the datagram socket. Default `false`. */
  allowReuseAddress?: boolean;
  /** SO_REUSEPORT (Deno needs `--unstable-net`; Node needs 22.12 or later). Default `false`. */
  allowReusePort?: boolean;
}

/**
 * Settings of {@link UDPServer} that a subclass may change with a class field or a getter. Declared in an interface
 * merged with the class, so that TypeScript accepts both forms of override.
 */
export interface UDPServer<ServerAddress extends SocketAddress = InetAddress> {
  /** Longest datagram accepted (default 65535). */
  maxPacketSize: number;
  /** SO_REUSEADDR. Default `false`. */
  allowReuseAddress: boolean;
  /** SO_REUSEPORT. Default `false`. */
  allowReusePort: boolean;
}

/**
 * A UDP server (Python's `UDPServer`). Each datagram is a request: a {@link DatagramRequest} holding the bytes and the
 * socket to reply on; {@link DatagramRequestHandler} sends its `wfile` back as one datagram.
 *
 * On Deno, UDP needs `--unstable-net` (or `"unstable": ["net"]` in deno.json) besides `--allow-net`.
 *
 * @example An upper-casing echo, one datagram at a time
 * ```ts
 * import { DatagramRequestHandler, UDPServer } from "@sockserve/sockserve";
 *
 * class Upper extends DatagramRequestHandler {
 *   override async handle() {
 *     const text = new TextDecoder().decode(await this.rfile.read());
 *     await this.wfile.write(text.toUpperCase()); // sent back as one datagram when the handler returns
 *   }
 * }
 *
 * await using server = await new UDPServer(["127.0.0.1", 9999], Upper).listen();
 * await server.serveForever(); // clients: nc -u 127.0.0.1 9999
 * ```
 */
export class UDPServer<ServerAddress extends SocketAddress = InetAddress>
  extends BaseServer<DatagramRequest, SocketAddress | null, ServerAddress> {
  static {
    this.prototype.maxPacketSize = 65535;
    this.prototype.allowReuseAddress = false;
    this.prototype.allowReusePort = false;
  }

  #socket: DatagramSocket | undefined;
  /** Turns a datagram of the bound socket into a request entry: made once per socket, used for every datagram. */
  #toEntry: (datagram: Datagram | null) => DatagramEntry | null | Promise<DatagramEntry | null> = () => null;
  #boundPath: string | undefined;
  #closing: Promise<void> | undefined;

  /**
   * Stores the address, handler class and options; `listen()` binds.
   *
   * @param serverAddress `[host, port]`, or a path for {@link UnixDatagramServer}
   * @param RequestHandlerClass usually a {@link DatagramRequestHandler} subclass
   * @param options see {@link UDPServerOptions}
   */
  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest, SocketAddress | null>,
    options: UDPServerOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }

  /** `"unixgram"` for unix datagram servers, `"udp"` otherwise. */
  get transport(): "udp" | "unixgram" {
    return "udp";
  }

  /** The bound socket, for sending datagrams outside a handler. */
  get socket(): DatagramSocket | undefined {
    return this.#socket;
  }

  /** Whether `serverBind()` has bound the socket (and `serverClose()` not yet closed it). */
  override isBound(): boolean {
    return this.#socket !== undefined;
  }

  /** Checks the address and binds the socket. */
  override async serverBind(): Promise<void> {
    if (this.#socket !== undefined) throw new ServerStateError("serverBind(): the server is already bound");
    const runtime = this.runtime;
    const maxPacketSize = this.maxPacketSize;
    if (!Number.isInteger(maxPacketSize) || maxPacketSize < 1) {
      throw new RangeError(`maxPacketSize must be a positive integer, got ${maxPacketSize}`);
    }
    if (this.transport === "unixgram") {
      const path = await prepareUnixPath(runtime, this.serverAddress, "unixgram");
      this.#socket = await runtime.listenDatagram({ transport: "unixgram", path, maxPacketSize });
      this.#boundPath = path;
    } else {
      const [hostname, port] = await resolveInetAddress(runtime, this.serverAddress);
      this.#socket = await runtime.listenDatagram({
        transport: "udp",
        hostname,
        port,
        maxPacketSize,
        reuseAddress: this.allowReuseAddress,
        reusePort: this.allowReusePort,
      });
    }
    const socket = this.#socket;
    this.#toEntry = (datagram) => this.#entryOf(datagram, socket);
    offerRequestDelivery(this, socket, UDP_GET_REQUEST, (datagram: Datagram, deliver) => {
      if (datagram.oversize === undefined) deliver({ data: datagram.data, socket }, datagram.from);
      else void this.#reportOversize(datagram.from, datagram.oversize);
    });
    this.serverAddress = socket.address as ServerAddress;
  }

  /** Takes the next datagram; one longer than `maxPacketSize` goes to `handleError()` and is skipped. */
  override getRequest(): Promise<RequestEntry<DatagramRequest, SocketAddress | null> | null> {
    const socket = this.#socket;
    if (socket === undefined) {
      return Promise.reject(
        new ServerStateError(
          "the server is not bound: call listen() (or serverBind() and serverActivate() when bindAndActivate is false)",
        ),
      );
    }
    return this.#receive(socket);
  }

  /** Not `async`, and one converter per socket rather than a closure per datagram: this runs for every datagram. */
  #receive(socket: DatagramSocket): Promise<DatagramEntry | null> {
    return socket.receive().then(this.#toEntry);
  }

  #entryOf(datagram: Datagram | null, socket: DatagramSocket): DatagramEntry | null | Promise<DatagramEntry | null> {
    if (datagram === null) return null;
    if (datagram.oversize === undefined) return [{ data: datagram.data, socket }, datagram.from];
    return this.#reportOversize(datagram.from, datagram.oversize).then(() => this.#receive(socket));
  }

  async #reportOversize(from: SocketAddress | null, size: number): Promise<void> {
    try {
      await this.handleError(null, from, new DatagramTooLargeError(size, this.maxPacketSize));
    } catch (error) {
      console.error("handleError() itself failed; the server goes on:", error);
    }
  }

  /**
   * Stops serving and waits for requests in flight (see `BaseServer`), then closes the socket and removes the unix
   * socket file. The socket stays open until then because requests in flight send their replies on it.
   */
  override serverClose(): Promise<void> {
    this.#closing ??= (async () => {
      try {
        await super.serverClose();
      } finally {
        const socket = this.#socket;
        this.#socket = undefined;
        try {
          await socket?.close();
        } finally {
          if (this.#boundPath !== undefined) await this.runtime.removeFile(this.#boundPath).catch(() => {});
        }
      }
    })();
    return this.#closing;
  }
}

const UDP_GET_REQUEST = UDPServer.prototype.getRequest;

/**
 * A unix datagram server (Python's `UnixDatagramServer`): the address is a socket path. Native on Deno (with
 * `--unstable-net`); Bun and Node have no unix datagram sockets and refuse with `UnsupportedError`.
 * A client that did not bind its socket to a path has no address and cannot get a reply.
 */
export class UnixDatagramServer extends UDPServer<UnixAddress> {
  /** Always `"unixgram"`. */
  override get transport(): "udp" | "unixgram" {
    return "unixgram";
  }
}
