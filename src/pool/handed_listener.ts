/**
 * A worker's listener when its primary accepts the connections: each one arrives over the IPC channel and is
 * accepted from here, so the worker's ordinary serve loop takes it as if it had accepted it itself.
 *
 * @module
 */
import { HandedSocket } from "../forking/handed_socket.ts";
import type { TlsConfig } from "../tls/options.ts";
import type {
  SecuredSocket,
  SocketAddress,
  StreamListener,
  StreamListenOptions,
  StreamSocket,
  TlsContext,
  TlsSupport,
} from "../transport.ts";

/** A {@link StreamListener} fed by {@link HandedListener.push}. */
export class HandedListener implements StreamListener {
  readonly address: SocketAddress;
  #queue: StreamSocket[] = [];
  #waiting: ((socket: StreamSocket | null) => void) | null = null;
  #closed = false;

  /** @param address the primary's listening address, which the worker's server reports as its own */
  constructor(address: SocketAddress) {
    this.address = address;
  }

  /** Queues a connection the primary handed over (closed at once once this listener is closed). */
  push(socket: StreamSocket): void {
    if (this.#closed) return socket.abort();
    const waiting = this.#waiting;
    if (waiting !== null) {
      this.#waiting = null;
      waiting(socket);
    } else {
      this.#queue.push(socket);
    }
  }

  accept(): Promise<StreamSocket | null> {
    const next = this.#queue.shift();
    if (next !== undefined) return Promise.resolve(next);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const socket of this.#queue.splice(0)) socket.abort();
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.(null);
    return Promise.resolve();
  }
}

/**
 * The runtime's TLS support for a worker fed by its primary: it listens where `listenStream` says (the worker's
 * {@link HandedListener}), and its contexts secure a handed connection by the socket it carries (the one a TLS
 * engine can take over), the secured one keeping the addresses the primary saw.
 */
export function handedTlsSupport(
  support: TlsSupport,
  listenStream: (options: StreamListenOptions) => Promise<StreamListener>,
): TlsSupport {
  return {
    listenStream,
    createContext: async (config) => new HandedTlsContext(await support.createContext(config)),
  };
}

class HandedTlsContext implements TlsContext {
  readonly #context: TlsContext;

  constructor(context: TlsContext) {
    this.#context = context;
  }

  async secure(socket: StreamSocket, handshakeStart?: () => Uint8Array): Promise<SecuredSocket> {
    if (!(socket instanceof HandedSocket)) return this.#context.secure(socket, handshakeStart);
    const { socket: secured, info } = await this.#context.secure(socket.received, handshakeStart);
    return { socket: new HandedSocket(secured, socket.localAddress, socket.remoteAddress), info };
  }

  update(config: TlsConfig): void {
    this.#context.update(config);
  }
}
