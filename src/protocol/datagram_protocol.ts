/**
 * `DatagramProtocol`: the callback shape of datagram servers (asyncio's `DatagramProtocol`, Twisted's), one object
 * per server, and the `DatagramTransport` it sends through.
 *
 * @module
 */
import { type BytesLike, toBytes } from "../connection.ts";
import { NoClientAddressError } from "../datagram_request_handler.ts";
import { RESOLVED } from "../resolved.ts";
import type { DatagramSocket, SocketAddress } from "../transport.ts";

/**
 * Where a {@link DatagramProtocol} sends: the server's socket (asyncio's `DatagramTransport`). Made by the server; a
 * protocol never makes one.
 */
export class DatagramTransport {
  #socket: DatagramSocket;
  #stop: () => void;
  #onSendError: (error: unknown) => void;
  #closed = false;

  /**
   * Wraps the server's bound socket.
   *
   * @param socket the server's socket
   * @param stop stops the server (its `shutdown()`)
   * @param onSendError where a failed send is reported (the protocol's `errorReceived()`)
   */
  constructor(socket: DatagramSocket, stop: () => void, onSendError: (error: unknown) => void) {
    this.#socket = socket;
    this.#stop = stop;
    this.#onSendError = onSendError;
  }

  /** The server's address. */
  get localAddress(): SocketAddress {
    return this.#socket.address;
  }

  /** True once {@link DatagramTransport.close} was called or the server closed. */
  get closing(): boolean {
    return this.#closed;
  }

  /**
   * Sends `data` (a string is sent as UTF-8) as one datagram to `address`. Nothing waits: a send that fails later is
   * reported to the protocol's `errorReceived()`. Sends after the server closed are dropped.
   *
   * @throws {NoClientAddressError} when `address` is `null` or `""` (an unbound unix datagram client)
   */
  sendTo(data: BytesLike, address: SocketAddress | null): void {
    if (address === null || address === "") throw new NoClientAddressError();
    if (this.#closed) return;
    let sending: Promise<void>;
    try {
      sending = this.#socket.send(toBytes(data), address);
    } catch (error) {
      return this.#onSendError(error);
    }
    if (sending !== RESOLVED) sending.then(undefined, this.#onSendError);
  }

  /** Stops the server from taking datagrams (its `shutdown()`); `serverClose()` then calls `connectionLost()`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop();
  }

  /** Marks the transport closed: the server is closing. For the server. */
  markClosed(): void {
    this.#closed = true;
  }
}

/**
 * A datagram handler in the callback shape: one object for the whole server (not one per datagram), whose
 * {@link DatagramProtocol.datagramReceived} is called for each datagram in the socket's own callback, and which
 * replies through {@link DatagramProtocol.transport}. Serve it with `UDPProtocolServer` or
 * `UnixDatagramProtocolServer`: `verifyRequest()` still runs for each datagram first, an error thrown by a callback
 * goes to `handleError()` with the datagram and its sender (the server goes on), and oversized datagrams are reported
 * as with handler classes. The protocol runs in the server's thread: with one object per server there is nothing to
 * hand to a worker or a child.
 *
 * @example An upper-casing echo
 * ```ts
 * import { DatagramProtocol, type SocketAddress, UDPProtocolServer } from "@sockserve/sockserve";
 *
 * class Upper extends DatagramProtocol {
 *   override datagramReceived(data: Uint8Array, address: SocketAddress | null) {
 *     this.transport.sendTo(new TextDecoder().decode(data).toUpperCase(), address);
 *   }
 * }
 *
 * await using server = await new UDPProtocolServer(["127.0.0.1", 0], Upper).listen();
 * await server.serveForever();
 * ```
 */
export class DatagramProtocol<Server = unknown> {
  /** The server this protocol serves. */
  readonly server: Server;
  /** Where to send. Set before `connectionMade()`. */
  transport!: DatagramTransport;

  /**
   * Made once, by the server, when it is bound. Subclass fields are set before any callback runs.
   *
   * @param server the server
   */
  constructor(server: Server) {
    this.server = server;
  }

  /** The server is bound; `transport` sends from its socket. Does nothing by default. */
  connectionMade(_transport: DatagramTransport): void {}

  /** One datagram, whole, and its sender (`null` for an unbound unix datagram client). Does nothing by default. */
  datagramReceived(_data: Uint8Array, _address: SocketAddress | null): void {}

  /** A send failed (or the socket reported an error). Prints it to stderr by default; the server goes on. */
  errorReceived(error: unknown): void {
    console.error("DatagramProtocol: a send failed:", error);
  }

  /** The server closed: no datagram follows. `error` is always `null` here. Does nothing by default. */
  connectionLost(_error: Error | null): void {}
}

/** A datagram protocol class as the protocol servers take it: constructed once, with the server. */
export interface DatagramProtocolClass {
  /** Makes the server's one protocol object. */
  new (server: never): DatagramProtocol<unknown>;
}
