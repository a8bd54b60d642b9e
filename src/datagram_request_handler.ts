/**
 * `DatagramRequestHandler`: `rfile` over the packet, `wfile` sent back as one datagram.
 *
 * @module
 */
import { BaseRequestHandler } from "./base_request_handler.ts";
import { BufferedReader } from "./buffered_reader.ts";
import { BytesWriter } from "./bytes_writer.ts";
import type { DatagramSocket, SocketAddress } from "./transport.ts";

/** The request of datagram servers: the packet, and the socket it came in on (Python's `(data, socket)` pair). */
export interface DatagramRequest {
  /** The datagram's bytes, whole. */
  readonly data: Uint8Array;
  /** The server's socket, for sending replies with `socket.send(bytes, address)`. */
  readonly socket: DatagramSocket;
}

/** A reply could not be sent because the client has no address (an unbound unix datagram socket). */
export class NoClientAddressError extends Error {
  constructor() {
    super("cannot reply: the client has no address; bind the client's unix datagram socket to a path to get replies");
    this.name = "NoClientAddressError";
  }
}

/**
 * The handler of UDP and unix datagram servers. {@link DatagramRequestHandler.rfile} reads the packet;
 * what is written to {@link DatagramRequestHandler.wfile} is sent back to the client as one datagram when the
 * handler finishes (nothing is sent when nothing was written).
 *
 * @example Upper-casing echo
 * ```ts
 * import { DatagramRequestHandler } from "@sockserve/sockserve";
 *
 * class Upper extends DatagramRequestHandler {
 *   override async handle() {
 *     const text = new TextDecoder().decode(await this.rfile.read());
 *     await this.wfile.write(text.toUpperCase());
 *   }
 * }
 * ```
 */
export class DatagramRequestHandler<Server = unknown>
  extends BaseRequestHandler<DatagramRequest, SocketAddress | null, Server> {
  /** The datagram's bytes. Set by `setup()`. */
  packet!: Uint8Array;
  /** The server's socket. Set by `setup()`. */
  socket!: DatagramSocket;
  /** The reply being written. Set by `setup()`. */
  wfile!: BytesWriter;
  #rfile: BufferedReader | undefined;

  /** Reader over the packet, made on first use: many handlers read `packet` directly. */
  get rfile(): BufferedReader {
    return this.#rfile ??= BufferedReader.from(this.packet);
  }

  set rfile(reader: BufferedReader) {
    this.#rfile = reader;
  }

  /** Sets `packet`, `socket` and an empty `wfile`. */
  override setup(): void | Promise<void> {
    this.packet = this.request.data;
    this.socket = this.request.socket;
    this.wfile = new BytesWriter();
  }

  /**
   * Sends `wfile` back to the client as one datagram, if anything was written.
   *
   * @throws {NoClientAddressError} when there is a reply but the client has no address
   */
  override finish(): void | Promise<void> {
    if (!this.wfile.written) return;
    if (this.clientAddress === null || this.clientAddress === "") throw new NoClientAddressError();
    return this.socket.send(this.wfile.getValue(), this.clientAddress);
  }
}
