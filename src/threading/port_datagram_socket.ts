/**
 * The worker's view of the server's datagram socket: replies cross the worker's `MessagePort` and the main thread
 * sends them, so `DatagramRequestHandler` (whose `finish()` sends `wfile` back) runs unchanged in a worker.
 *
 * @module
 */
import { UnsupportedError } from "../errors.ts";
import type { Datagram, DatagramSocket, SocketAddress } from "../transport.ts";
import { errorFromReport } from "./error_report.ts";
import { type FromWorker, type Post, type ToWorker, transferableBytes } from "./protocol.ts";

/**
 * A datagram socket that can only send: each `send()` resolves once the main thread has sent the datagram (or
 * rejects with its error). It cannot receive, and closing it does nothing: the socket belongs to the server.
 */
export class PortDatagramSocket implements DatagramSocket {
  readonly address: SocketAddress;
  #id: number;
  #post: Post<FromWorker>;
  #nextSeq = 0;
  #pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();

  /**
   * @param id the request's id on the port
   * @param address the server socket's address
   * @param post sends a message to the main thread
   */
  constructor(id: number, address: SocketAddress, post: Post<FromWorker>) {
    this.#id = id;
    this.address = address;
    this.#post = post;
  }

  receive(): Promise<Datagram | null> {
    return Promise.reject(
      new UnsupportedError("a handler in a worker cannot receive on the server's socket: the main thread receives"),
    );
  }

  send(data: Uint8Array, to: SocketAddress): Promise<void> {
    const seq = this.#nextSeq++;
    const copy = transferableBytes(data, false);
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, { resolve, reject });
      this.#post({ type: "send", id: this.#id, seq, data: copy, to }, [copy.buffer]);
    });
  }

  /** Does nothing: the socket is the server's, which closes it. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Takes a message the main thread sent about this request. */
  onMessage(message: ToWorker): void {
    if (message.type !== "sent") return;
    const pending = this.#pending.get(message.seq);
    if (pending === undefined) return;
    this.#pending.delete(message.seq);
    if (message.error === undefined) pending.resolve();
    else pending.reject(errorFromReport(message.error));
  }
}
