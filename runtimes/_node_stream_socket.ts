/**
 * A `node:net` socket as the transport interface's stream socket: the Node adapter's connections, and the connection a
 * forking server's child receives. Kept apart from the listener so that a child loads no more than it needs.
 *
 * @module
 */
import type net from "node:net";
import type { TlsInfo } from "../src/tls/info.ts";
import type { SocketAddress, StreamSocket, StreamSocketEvents } from "../src/transport.ts";

/** Where a socket keeps the events it reports to, for the shared listeners below. */
const EVENTS: unique symbol = Symbol("sockserve.events");

type ListenedSocket = net.Socket & { [EVENTS]: StreamSocketEvents };

// One set of listeners for every socket, finding their events through the socket (`this`): no closures per connection.
function onData(this: ListenedSocket, chunk: Uint8Array): void {
  this[EVENTS].data(chunk);
}
function onEnd(this: ListenedSocket): void {
  this[EVENTS].end();
}
function onError(this: ListenedSocket, error: Error): void {
  this[EVENTS].error(error);
}
function onDrain(this: ListenedSocket): void {
  this[EVENTS].drain();
}
function onClose(this: ListenedSocket): void {
  this[EVENTS].close();
}

/** The private part of a `net.Socket` that reading is started and stopped on (Node's and Deno's; Bun has none). */
interface ReadableHandle {
  reading?: boolean;
  readStop?(): number;
}

/**
 * A `net.Socket` as a {@link StreamSocket}. One made with `readsOnAttach = false` reads nothing until `resume()`, and
 * can leave this process: {@link NodeStreamSocket.detach}, then the forking support sends {@link NodeStreamSocket.raw}
 * to a child and calls {@link NodeStreamSocket.release}.
 */
export class NodeStreamSocket implements StreamSocket {
  readonly remoteAddress: SocketAddress;
  /** Set by the TLS support on the sockets it secured. */
  tls: TlsInfo | null = null;
  #localAddress: SocketAddress | undefined;
  #socket: net.Socket;
  #readsOnAttach: boolean;
  #reading = false;
  #events: StreamSocketEvents | null = null;
  #detached = false;
  #closeReported = false;

  /**
   * @param socket the connected socket
   * @param unixPath the listener's path for a unix socket (`undefined` for TCP)
   * @param readsOnAttach whether `attach()` starts reading (otherwise the first `resume()` does)
   * @param remoteAddress the peer's address where it is known already (a socket secured by TLS: the accepted
   * socket's), which saves a system call (getpeername)
   */
  constructor(
    socket: net.Socket,
    unixPath: string | undefined,
    readsOnAttach = true,
    remoteAddress?: SocketAddress,
  ) {
    this.#socket = socket;
    this.#readsOnAttach = readsOnAttach;
    if (unixPath !== undefined) {
      this.#localAddress = unixPath;
      this.remoteAddress = "";
    } else {
      this.remoteAddress = remoteAddress ?? [socket.remoteAddress ?? "", socket.remotePort ?? 0];
    }
  }

  /** Read on first use: it costs a system call (getsockname) that most servers never need. */
  get localAddress(): SocketAddress {
    const socket = this.#socket;
    return this.#localAddress ??= [socket.localAddress ?? "", socket.localPort ?? 0];
  }

  attach(events: StreamSocketEvents): void {
    const socket = this.#socket;
    this.#events = events;
    (socket as ListenedSocket)[EVENTS] = events;
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("error", onError);
    socket.on("drain", onDrain);
    socket.on("close", onClose);
    if (this.#readsOnAttach) this.resume();
  }

  pause(): void {
    if (!this.#detached) this.#socket.pause();
  }

  resume(): void {
    if (this.#detached) return;
    this.#reading = true;
    this.#socket.resume();
  }

  write(chunk: Uint8Array): boolean {
    // After detach the connection belongs to a child: late bytes of this process are dropped, never interleaved.
    return this.#detached ? true : this.#socket.write(chunk);
  }

  closeWrite(): void {
    if (!this.#detached && !this.#socket.writableEnded) this.#socket.end();
  }

  close(): void {
    const socket = this.#socket;
    if (this.#detached) return this.release();
    if (socket.destroyed) return;
    if (socket.writableFinished || socket.writableLength === 0 && socket.writableEnded) {
      socket.destroy();
      return;
    }
    socket.once("finish", () => socket.destroy());
    if (!socket.writableEnded) socket.end();
  }

  abort(): void {
    if (this.#detached) return this.release();
    if (this.#socket.destroyed) return;
    // Only TCP has a reset (RST); resetAndDestroy() throws ERR_INVALID_HANDLE_TYPE on a unix socket.
    if (typeof this.remoteAddress === "string") this.#socket.destroy();
    else this.#socket.resetAndDestroy();
  }

  setNoDelay(enabled: boolean): void {
    if (!this.#detached) this.#socket.setNoDelay(enabled);
  }

  get bufferedAmount(): number {
    return this.#detached ? 0 : this.#socket.writableLength;
  }

  /**
   * Gives the `net.Socket` to a new owner that will read it itself (a TLS handshake): reading pauses, bytes read and
   * not yet delivered go to the `data` event now, then events stop and this object stops touching the socket.
   */
  takeOver(): net.Socket {
    const socket = this.#socket;
    socket.pause();
    const events = this.#events;
    if (events !== null && !this.#detached) {
      // Only what is already buffered: a read() on an empty stream would start reading bytes the new owner needs.
      while (socket.readableLength > 0) {
        const chunk = socket.read() as Uint8Array | null;
        if (chunk === null) break;
        events.data(chunk);
      }
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
      socket.off("drain", onDrain);
      socket.off("close", onClose);
    }
    this.#detached = true;
    this.#closeReported = true;
    return socket;
  }

  /** The `net.Socket` underneath, for sending to a child process. */
  get raw(): net.Socket {
    return this.#socket;
  }

  /**
   * Readies the socket to leave this process: waits until written bytes are sent, stops reading for good, delivers
   * what was read and not yet delivered, and stops delivering events. Idempotent.
   */
  async detach(): Promise<void> {
    if (this.#detached) return;
    const socket = this.#socket;
    // Bytes still queued here would be lost with this process's copy of the socket: let them reach the kernel first.
    while (socket.writableLength > 0 && !socket.destroyed) await new Promise((resolve) => setTimeout(resolve, 1));
    if (this.#detached) return;
    this.#detached = true;
    const events = this.#events;
    socket.pause();
    if (this.#reading && events !== null) {
      // read() may restart reading the OS socket (a paused stream below its high-water mark refills), so drain first
      // and stop the handle last: both are synchronous, and nothing can be read in between.
      for (let chunk: Uint8Array | null; (chunk = socket.read() as Uint8Array | null) !== null;) events.data(chunk);
      const handle = (socket as unknown as { _handle?: ReadableHandle | null })._handle;
      if (handle) {
        handle.readStop?.();
        handle.reading = false;
      }
    }
    if (events !== null) {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
      socket.off("drain", onDrain);
      socket.off("close", onClose);
    }
    socket.on("error", () => {});
  }

  /** Closes this process's copy of a detached socket (the child holds its own) and reports `close`, once. */
  release(): void {
    if (!this.#socket.destroyed) this.#socket.destroy();
    if (this.#closeReported) return;
    this.#closeReported = true;
    this.#events?.close();
  }
}
