/**
 * The Bun adapter: `Bun.listen` and `Bun.udpSocket`.
 *
 * Bun's API is typed here by the few members used, so that published types do not depend on `bun-types`.
 *
 * @module
 */
import { formatAddress } from "../src/address.ts";
import { UnsupportedError } from "../src/errors.ts";
import { RESOLVED } from "../src/resolved.ts";
import type {
  Datagram,
  DatagramListenOptions,
  DatagramSocket,
  InetAddress,
  Runtime,
  SocketAddress,
  StreamListener,
  StreamListenOptions,
  StreamSocket,
  StreamSocketEvents,
} from "../src/transport.ts";
import { childProcesses } from "./_fork.ts";
import { nodeConnectStream } from "./_node_connect.ts";
import { bindError, lookupHost, removeFile, unixPathState } from "./_files.ts";
import { nodeTls } from "./_node_stream.ts";
import { ACCEPT_QUEUE_LIMIT, DATAGRAM_QUEUE_LIMIT, PullQueue } from "./_pull_queue.ts";
import { startWebWorker, webParallelism } from "./_web_worker.ts";

interface BunSocket {
  data: BunStreamSocket | undefined;
  readonly remoteAddress: string;
  readonly remotePort?: number;
  readonly localAddress?: string;
  readonly localPort?: number;
  write(data: Uint8Array): number;
  shutdown(halfClose?: boolean): void;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(enabled?: boolean): boolean;
}

interface BunListener {
  readonly hostname?: string;
  readonly port?: number;
  readonly unix?: string;
  stop(closeActiveConnections?: boolean): void;
}

interface BunUdpSocket {
  readonly address: { address: string; port: number };
  send(data: Uint8Array, port: number, address: string): boolean;
  close(): void;
}

interface BunApi {
  listen(options: Record<string, unknown>): BunListener;
  udpSocket(options: Record<string, unknown>): Promise<BunUdpSocket>;
}

function bun(): BunApi {
  return (globalThis as unknown as { Bun: BunApi }).Bun;
}

/** Bytes queued before `write()` asks the caller to wait for `drain`. */
const HIGH_WATER_MARK = 64 * 1024;

class BunStreamSocket implements StreamSocket {
  readonly localAddress: SocketAddress;
  readonly remoteAddress: SocketAddress;
  bufferedAmount = 0;
  #socket: BunSocket;
  #events: StreamSocketEvents | null = null;
  #early: Array<["data", Uint8Array] | ["end"] | ["error", Error] | ["close"]> = [];
  #queue: Uint8Array[] = [];
  #wantDrain = false;
  #writeClosing = false;
  #closing = false;
  #closed = false;
  #inputEnded = false;

  constructor(socket: BunSocket, unixPath: string | undefined) {
    this.#socket = socket;
    if (unixPath !== undefined) {
      this.localAddress = unixPath;
      this.remoteAddress = "";
    } else {
      this.localAddress = [socket.localAddress ?? "", socket.localPort ?? 0];
      this.remoteAddress = [socket.remoteAddress, socket.remotePort ?? 0];
    }
    socket.pause();
  }

  attach(events: StreamSocketEvents): void {
    this.#events = events;
    for (const event of this.#early.splice(0)) this.#deliver(event);
    if (!this.#closed) this.#socket.resume();
  }

  #deliver(event: ["data", Uint8Array] | ["end"] | ["error", Error] | ["close"]): void {
    const events = this.#events;
    if (events === null) {
      this.#early.push(event);
      return;
    }
    if (event[0] === "data") events.data(event[1]);
    else if (event[0] === "end") events.end();
    else if (event[0] === "error") events.error(event[1]);
    else events.close();
  }

  // Called by the listener's handlers.
  onData(chunk: Uint8Array): void {
    if (this.#events !== null) this.#events.data(chunk);
    else this.#early.push(["data", chunk]);
  }
  onEnd(): void {
    this.#inputEnded = true;
    this.#deliver(["end"]);
  }
  onError(error: Error): void {
    this.#inputEnded = true;
    this.#deliver(["error", error]);
  }
  onClose(): void {
    if (this.#closed) return;
    // After shutdown(), Bun reports the peer's FIN as close alone: it is an end of input all the same.
    if (this.#writeClosing && !this.#inputEnded) this.onEnd();
    this.#closed = true;
    this.#queue = [];
    this.bufferedAmount = 0;
    this.#deliver(["close"]);
  }
  onDrain(): void {
    this.#flush();
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    if (!this.#closed) this.#socket.resume();
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed || this.#writeClosing) return true;
    if (this.#queue.length === 0) {
      const written = this.#socket.write(chunk);
      if (written >= chunk.length) return true;
      chunk = chunk.subarray(Math.max(written, 0));
    }
    this.#queue.push(chunk);
    this.bufferedAmount += chunk.length;
    if (this.bufferedAmount < HIGH_WATER_MARK) return true;
    this.#wantDrain = true;
    return false;
  }

  #flush(): void {
    while (this.#queue.length > 0) {
      const chunk = this.#queue[0];
      const written = Math.max(this.#socket.write(chunk), 0);
      this.bufferedAmount -= written;
      if (written < chunk.length) {
        this.#queue[0] = chunk.subarray(written);
        return;
      }
      this.#queue.shift();
    }
    if (this.#wantDrain) {
      this.#wantDrain = false;
      this.#events?.drain();
      // A consumer may write again from inside drain(): its bytes go out before any FIN.
      if (this.#queue.length > 0) return;
    }
    if (this.#closing) this.#socket.end();
    else if (this.#writeClosing) this.#socket.shutdown(); // SHUT_WR: shutdown(true) would be SHUT_RD
  }

  closeWrite(): void {
    if (this.#writeClosing || this.#closed) return;
    this.#writeClosing = true;
    if (this.#queue.length === 0) this.#socket.shutdown(); // SHUT_WR: shutdown(true) would be SHUT_RD
  }

  close(): void {
    if (this.#closing || this.#closed) return;
    this.#closing = true;
    if (this.#queue.length === 0) this.#socket.end();
  }

  abort(): void {
    if (this.#closed) return;
    this.#queue = [];
    this.bufferedAmount = 0;
    this.#socket.terminate();
  }

  setNoDelay(enabled: boolean): void {
    if (!this.#closed) this.#socket.setNoDelay(enabled);
  }
}

const streamHandlers = {
  data(socket: BunSocket, chunk: Uint8Array): void {
    socket.data?.onData(chunk);
  },
  end(socket: BunSocket): void {
    socket.data?.onEnd();
  },
  error(socket: BunSocket, error: Error): void {
    socket.data?.onError(error);
  },
  // Bun reports a reset (ECONNRESET) only as the argument of close: without it, a reset would look like a clean end.
  close(socket: BunSocket, error?: Error): void {
    if (error instanceof Error) socket.data?.onError(error);
    socket.data?.onClose();
  },
  drain(socket: BunSocket): void {
    socket.data?.onDrain();
  },
};

class BunStreamListener implements StreamListener {
  readonly address: SocketAddress;
  #listener: BunListener;
  #queue: PullQueue<BunStreamSocket>;

  constructor(listener: BunListener, queue: PullQueue<BunStreamSocket>, address: SocketAddress) {
    this.#listener = listener;
    this.#queue = queue;
    this.address = address;
  }

  static listen(options: StreamListenOptions): BunStreamListener {
    const unixPath = options.transport === "unix" ? options.path : undefined;
    const queue = new PullQueue<BunStreamSocket>(ACCEPT_QUEUE_LIMIT, (socket) => socket.abort());
    const socket = {
      ...streamHandlers,
      open(raw: BunSocket): void {
        const wrapped = new BunStreamSocket(raw, unixPath);
        raw.data = wrapped;
        queue.push(wrapped);
      },
    };
    const where = options.transport === "unix"
      ? { unix: options.path }
      : { hostname: options.hostname, port: options.port, exclusive: !options.reusePort, reusePort: options.reusePort };
    const described = options.transport === "unix" ? options.path : formatAddress([options.hostname, options.port]);
    let listener: BunListener;
    try {
      listener = bun().listen({ ...where, allowHalfOpen: true, binaryType: "uint8array", socket });
    } catch (error) {
      throw bindError(error, described, unixPath);
    }
    const address: SocketAddress = unixPath ?? [listener.hostname ?? "", listener.port ?? 0];
    return new BunStreamListener(listener, queue, address);
  }

  accept(): Promise<StreamSocket | null> {
    return this.#queue.take();
  }

  deliverTo(sink: ((socket: StreamSocket | null) => void) | null): boolean {
    return this.#queue.deliverTo(sink);
  }

  close(): Promise<void> {
    this.#queue.close();
    this.#listener.stop(false);
    return Promise.resolve();
  }
}

class BunDatagramSocket implements DatagramSocket {
  readonly address: SocketAddress;
  #socket: BunUdpSocket;
  #queue: PullQueue<Datagram>;
  #drainWaiters: Array<() => void> = [];

  constructor(socket: BunUdpSocket, queue: PullQueue<Datagram>) {
    this.#socket = socket;
    this.#queue = queue;
    this.address = [socket.address.address, socket.address.port];
  }

  static async bind(options: DatagramListenOptions): Promise<BunDatagramSocket> {
    if (options.transport === "unixgram") {
      throw new UnsupportedError(
        "unix datagram sockets are not supported on Bun: Bun.udpSocket has no AF_UNIX datagrams (Deno has them natively)",
      );
    }
    if (options.reusePort) {
      throw new UnsupportedError(
        "allowReusePort is not supported for UDP on Bun: Bun.udpSocket has no reusePort option",
      );
    }
    const queue = new PullQueue<Datagram>(DATAGRAM_QUEUE_LIMIT);
    const max = options.maxPacketSize;
    // The drain callback is registered before the wrapper exists, so it reaches the wrapper through this box.
    const drainTarget: { wrapper?: BunDatagramSocket } = {};
    let socket: BunUdpSocket;
    try {
      socket = await bun().udpSocket({
        hostname: options.hostname,
        port: options.port,
        binaryType: "uint8array",
        ...(options.reuseAddress ? { reuseAddr: true } : {}),
        socket: {
          data(_socket: unknown, data: Uint8Array, port: number, address: string): void {
            const from: SocketAddress = [address, port];
            queue.push(data.length > max ? { data: new Uint8Array(0), from, oversize: data.length } : { data, from });
          },
          drain(): void {
            drainTarget.wrapper?.onDrain();
          },
          // An ICMP error (port unreachable: a reply went to a client that is gone) must not become an uncaught error.
          error(): void {},
        },
      });
    } catch (error) {
      throw bindError(error, formatAddress([options.hostname, options.port]));
    }
    drainTarget.wrapper = new BunDatagramSocket(socket, queue);
    return drainTarget.wrapper;
  }

  onDrain(): void {
    for (const waiter of this.#drainWaiters.splice(0)) waiter();
  }

  receive(): Promise<Datagram | null> {
    return this.#queue.take();
  }

  deliverTo(sink: ((datagram: Datagram | null) => void) | null): boolean {
    return this.#queue.deliverTo(sink);
  }

  send(data: Uint8Array, to: SocketAddress): Promise<void> {
    if (typeof to === "string") return Promise.reject(new TypeError("a UDP socket cannot send to a unix path"));
    try {
      // Sent at once nearly always: the shared resolved promise spares an async frame per datagram.
      if (this.#socket.send(data, to[1], to[0])) return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#sendWhenRoom(data, to);
  }

  /** `send()` returned false: the kernel buffer is full. Waits for room, as a blocking `sendto` would. */
  async #sendWhenRoom(data: Uint8Array, to: InetAddress): Promise<void> {
    do await new Promise<void>((resolve) => this.#drainWaiters.push(resolve)); while (
      !this.#socket.send(data, to[1], to[0])
    );
  }

  close(): Promise<void> {
    this.#queue.close();
    this.#socket.close();
    this.onDrain();
    return Promise.resolve();
  }
}

/** The Bun adapter: `Bun.listen` for streams, `Bun.udpSocket` for UDP. Unix datagrams are refused. */
export const bunRuntime: Runtime = {
  name: "bun",
  listenStream: (options) => Promise.resolve().then(() => BunStreamListener.listen(options)),
  listenDatagram: (options) => BunDatagramSocket.bind(options),
  lookupHost,
  unixPathState,
  removeFile,
  startWorker: startWebWorker,
  availableParallelism: webParallelism,
  childProcesses,
  connectStream: nodeConnectStream,
  tls: nodeTls,
};
