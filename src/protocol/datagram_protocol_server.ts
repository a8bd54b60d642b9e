/**
 * Datagram servers that serve one {@link DatagramProtocol} object: `UDPProtocolServer` and
 * `UnixDatagramProtocolServer`, and the mix-in they are made with.
 *
 * @module
 */
import type { RequestHandlerClass } from "../base_request_handler.ts";
import type { DatagramRequest } from "../datagram_request_handler.ts";
import type { ServerClass } from "../mixins/server_class.ts";
import { RESOLVED } from "../resolved.ts";
import type { InetAddress, SocketAddress, UnixAddress } from "../transport.ts";
import { UDPServer, type UDPServerOptions, UnixDatagramServer } from "../udp_server.ts";
import { type DatagramProtocol, type DatagramProtocolClass, DatagramTransport } from "./datagram_protocol.ts";

/** What `DatagramProtocolMixIn` adds to a server. */
export interface DatagramProtocolServer {
  /** The server's protocol object, made when the server is bound (`undefined` before). */
  readonly protocol: DatagramProtocol<unknown> | undefined;
}

/**
 * Makes a datagram server serve one protocol object instead of a handler per datagram: the server's
 * `RequestHandlerClass` is a {@link DatagramProtocol} class, constructed once when the server is bound (with the
 * server), and `processRequest()` calls its `datagramReceived()` in the socket's callback. `verifyRequest()` runs
 * first, as for every request; an error thrown by the protocol goes to `handleError()` and the server goes on;
 * `serverClose()` calls `connectionLost(null)`.
 *
 * @example A server class of your own
 * ```ts
 * import { DatagramProtocolMixIn, UDPServer } from "@sockserve/sockserve";
 *
 * class LocalOnly extends UDPServer {
 *   override verifyRequest(_request: unknown, clientAddress: unknown): boolean {
 *     return Array.isArray(clientAddress) && clientAddress[0] === "127.0.0.1";
 *   }
 * }
 * const LocalOnlyProtocolServer = DatagramProtocolMixIn(LocalOnly);
 * ```
 */
export function DatagramProtocolMixIn<Base extends ServerClass>(
  base: Base,
  // deno-lint-ignore no-explicit-any
): Base & (new (...args: any[]) => DatagramProtocolServer) {
  class DatagramProtocolServerMixIn extends base implements DatagramProtocolServer {
    #protocol: DatagramProtocol<unknown> | undefined;
    #transport: DatagramTransport | undefined;
    #reportSendError = (error: unknown): void => {
      try {
        this.#protocol?.errorReceived(error);
      } catch (failure) {
        void this.#report(null, null, failure);
      }
    };

    get protocol(): DatagramProtocol<unknown> | undefined {
      return this.#protocol;
    }

    /** Binds, then makes the protocol object and calls its `connectionMade()`. */
    override async serverActivate(): Promise<void> {
      await super.serverActivate();
      if (this.#protocol !== undefined) return;
      const socket = (this as unknown as { socket: UDPServer["socket"] }).socket;
      if (socket === undefined) throw new TypeError("DatagramProtocolMixIn needs a datagram server (UDPServer)");
      const Protocol = this.RequestHandlerClass as unknown as DatagramProtocolClass;
      const protocol = new Protocol(this as never);
      const transport = new DatagramTransport(socket, () => void this.shutdown(), this.#reportSendError);
      protocol.transport = transport;
      this.#protocol = protocol;
      this.#transport = transport;
      protocol.connectionMade(transport);
    }

    /** Hands the datagram to the protocol, in this turn. */
    override processRequest(request: unknown, clientAddress: unknown): Promise<void> {
      const protocol = this.#protocol;
      if (protocol === undefined) return Promise.reject(new Error("the datagram protocol is not made yet"));
      try {
        protocol.datagramReceived((request as DatagramRequest).data, clientAddress as SocketAddress | null);
      } catch (error) {
        return this.#report(request, clientAddress, error);
      }
      // The shared resolved promise: handed on and finished, the serve loop goes straight on.
      return RESOLVED;
    }

    /** Closes as the server does, then calls the protocol's `connectionLost(null)`. */
    override async serverClose(): Promise<void> {
      try {
        await super.serverClose();
      } finally {
        const protocol = this.#protocol;
        const transport = this.#transport;
        if (transport !== undefined && protocol !== undefined && !this.#lost) {
          this.#lost = true;
          transport.markClosed();
          try {
            protocol.connectionLost(null);
          } catch (error) {
            await this.#report(null, null, error);
          }
        }
      }
    }

    #lost = false;

    async #report(request: unknown, clientAddress: unknown, error: unknown): Promise<void> {
      try {
        await this.handleError(request, clientAddress, error);
      } catch (failure) {
        console.error("handleError() itself failed; the server goes on:", failure);
      }
    }
  }
  return DatagramProtocolServerMixIn;
}

/** `DatagramProtocolMixIn(UDPServer)`: the class {@link UDPProtocolServer} extends. Use `UDPProtocolServer` itself. */
// deno-lint-ignore no-explicit-any
export const UDPProtocolServerBase: typeof UDPServer & (new (...args: any[]) => DatagramProtocolServer) =
  DatagramProtocolMixIn(UDPServer);

/**
 * A UDP server serving one {@link DatagramProtocol} object (asyncio's `create_datagram_endpoint`): each datagram goes
 * to its `datagramReceived()` in the socket's own callback, with no handler object per datagram.
 *
 * @example A UDP echo at raw socket speed
 * ```ts
 * import { DatagramProtocol, type SocketAddress, UDPProtocolServer } from "@sockserve/sockserve";
 *
 * class Echo extends DatagramProtocol {
 *   override datagramReceived(data: Uint8Array, address: SocketAddress | null) {
 *     this.transport.sendTo(data, address);
 *   }
 * }
 *
 * await using server = await new UDPProtocolServer(["127.0.0.1", 9999], Echo).listen();
 * await server.serveForever();
 * ```
 */
export class UDPProtocolServer extends UDPProtocolServerBase {
  /**
   * Stores the address, protocol class and options; `listen()` binds and makes the protocol object.
   *
   * @param serverAddress `[host, port]`
   * @param ProtocolClass a {@link DatagramProtocol} subclass
   * @param options datagram server options
   */
  constructor(serverAddress: InetAddress, ProtocolClass: DatagramProtocolClass, options: UDPServerOptions = {}) {
    super(
      serverAddress,
      ProtocolClass as unknown as RequestHandlerClass<DatagramRequest, SocketAddress | null>,
      options,
    );
  }
}

/** `DatagramProtocolMixIn(UnixDatagramServer)`: the class {@link UnixDatagramProtocolServer} extends. */
export const UnixDatagramProtocolServerBase:
  & typeof UnixDatagramServer
  // deno-lint-ignore no-explicit-any
  & (new (...args: any[]) => DatagramProtocolServer) = DatagramProtocolMixIn(UnixDatagramServer);

/** A unix datagram server serving one {@link DatagramProtocol} object (Deno only, as `UnixDatagramServer`). */
export class UnixDatagramProtocolServer extends UnixDatagramProtocolServerBase {
  /**
   * Stores the path, protocol class and options; `listen()` binds and makes the protocol object.
   *
   * @param serverAddress the socket path
   * @param ProtocolClass a {@link DatagramProtocol} subclass
   * @param options datagram server options
   */
  constructor(serverAddress: UnixAddress, ProtocolClass: DatagramProtocolClass, options: UDPServerOptions = {}) {
    super(
      serverAddress,
      ProtocolClass as unknown as RequestHandlerClass<DatagramRequest, SocketAddress | null>,
      options,
    );
  }
}
