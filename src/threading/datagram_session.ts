/**
 * The main thread's side of a datagram served in a worker: the packet goes over, and the replies the handler sends
 * come back and leave through the server's socket.
 *
 * @module
 */
import type { DatagramRequest } from "../datagram_request_handler.ts";
import type { HandlerLocation } from "../handler_location.ts";
import type { SocketAddress } from "../transport.ts";
import { reportError } from "./error_report.ts";
import { type FromWorker, transferableBytes } from "./protocol.ts";
import { RequestSession } from "./request_session.ts";

/** One datagram request on its way through a worker. */
export class DatagramSession extends RequestSession {
  #request: DatagramRequest;
  #clientAddress: SocketAddress | null;

  /**
   * @param handler where the worker finds the handler class
   * @param request the datagram and the server's socket
   * @param clientAddress the sender, or `null` for an unnamed unix datagram client
   */
  constructor(handler: HandlerLocation, request: DatagramRequest, clientAddress: SocketAddress | null) {
    super(handler);
    this.#request = request;
    this.#clientAddress = clientAddress;
  }

  protected begin(): void {
    const data = transferableBytes(this.#request.data, false);
    this.post({
      type: "datagram",
      id: this.id,
      handler: this.handler,
      clientAddress: this.#clientAddress,
      data,
      socketAddress: this.#request.socket.address,
    }, [data.buffer]);
  }

  protected override handle(message: FromWorker): void {
    if (message.type !== "send") return;
    const { seq } = message;
    this.#request.socket.send(message.data, message.to).then(
      () => this.post({ type: "sent", id: this.id, seq }),
      (error) => this.post({ type: "sent", id: this.id, seq, error: reportError(error) }),
    );
  }
}
