/**
 * A listener that hands out only connections whose TLS handshake is done: handshakes run here, side by side, so a
 * client that connects and never sends its ClientHello delays nobody, in any mode (a synchronous server included:
 * Python's `wrap_socket` on the listening socket froze `serve_forever()` on such a client).
 *
 * @module
 */
import type { SocketAddress, StreamListener, StreamSocket, TlsContext } from "../transport.ts";

/** Most handshakes run at once; beyond it, connections wait in the kernel's backlog. */
const MAX_HANDSHAKES = 256;
/** Most secured connections held for `accept()`; beyond it, no more handshakes start. */
const MAX_READY = 64;

/** Hears of each failed handshake: the error and the client's address. */
export type HandshakeFailure = (error: Error, clientAddress: SocketAddress) => void;

/** Wraps a plain listener: {@link TlsListener.accept} returns secured sockets (their `tls` set). */
export class TlsListener implements StreamListener {
  readonly #inner: StreamListener;
  readonly #context: TlsContext;
  readonly #onFailure: HandshakeFailure;
  readonly #ready: StreamSocket[] = [];
  readonly #handshaking = new Set<StreamSocket>();
  #taker: ((socket: StreamSocket | null) => void) | null = null;
  #accepting = false;
  #closed = false;

  /**
   * Starts taking connections from `inner` at once.
   *
   * @param inner a listener of the runtime's {@link TlsSupport}
   * @param context secures each connection
   * @param onFailure hears of each handshake that failed (the socket is destroyed already)
   */
  constructor(inner: StreamListener, context: TlsContext, onFailure: HandshakeFailure) {
    this.#inner = inner;
    this.#context = context;
    this.#onFailure = onFailure;
    this.#pump();
  }

  /** The bound address. */
  get address(): SocketAddress {
    return this.#inner.address;
  }

  /** The next secured connection, or `null` once closed. */
  accept(): Promise<StreamSocket | null> {
    const socket = this.#ready.shift();
    if (socket !== undefined) {
      this.#pump();
      return Promise.resolve(socket);
    }
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => (this.#taker = resolve));
  }

  /** Stops listening; handshakes under way and secured connections not taken are closed. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const taker = this.#taker;
    this.#taker = null;
    taker?.(null);
    for (const socket of this.#handshaking) socket.abort();
    for (const socket of this.#ready.splice(0)) socket.abort();
    await this.#inner.close();
  }

  #pump(): void {
    if (this.#accepting || this.#closed) return;
    if (this.#handshaking.size >= MAX_HANDSHAKES || this.#ready.length >= MAX_READY) return;
    this.#accepting = true;
    this.#inner.accept().then((socket) => {
      this.#accepting = false;
      if (socket === null) return void this.close();
      if (this.#closed) return void socket.abort();
      this.#secure(socket);
      this.#pump();
    }, () => {
      this.#accepting = false;
      // An accept error concerns one connection (the inner listener skips those it can); go on shortly.
      if (!this.#closed) setTimeout(() => this.#pump(), 10);
    });
  }

  #secure(socket: StreamSocket): void {
    const clientAddress = socket.remoteAddress;
    this.#handshaking.add(socket);
    this.#context.secure(socket).then(({ socket: secured }) => {
      this.#handshaking.delete(socket);
      if (this.#closed) return void secured.abort();
      const taker = this.#taker;
      if (taker !== null) {
        this.#taker = null;
        taker(secured);
      } else {
        this.#ready.push(secured);
      }
      this.#pump();
    }, (error: Error) => {
      this.#handshaking.delete(socket);
      this.#pump();
      if (!this.#closed) this.#onFailure(error, clientAddress);
    });
  }
}
