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
import { type Descriptors, loadDescriptors, RELISTEN_DELAY, stopKeepingSocket } from "./_descriptors.ts";
import { childProcesses } from "./_fork.ts";
import { nodeConnectStream } from "./_node_connect.ts";
import { bindError, lookupHost, removeFile, unixPathState } from "./_files.ts";
import { NodeDatagramSocket } from "./_node_datagram.ts";
import { nodeReusePort, NodeStreamListener, nodeTls } from "./_node_stream.ts";
import { DATAGRAM_QUEUE_LIMIT, PullQueue } from "./_pull_queue.ts";
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
  /** The listening socket's descriptor. */
  readonly fd?: number;
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

/** The empty write queue every connection starts with and none ever adds to (see `BunStreamSocket.write`). */
const NO_CHUNKS: Uint8Array[] = [];

/** The host of the last TCP peer: the next connection from the same host shares the string (idle ones hold it). */
let lastPeerHost = "";

class BunStreamSocket implements StreamSocket {
  readonly remoteAddress: SocketAddress;
  #localAddress: SocketAddress | undefined;
  bufferedAmount = 0;
  #socket: BunSocket;
  #events: StreamSocketEvents | null = null;
  /** Events before `attach()`; made when the first one comes (most connections have none: every idle one is held). */
  #early: Array<["data", Uint8Array] | ["end"] | ["error", Error] | ["close"]> | null = null;
  /** Chunks Bun did not take yet; the shared empty list until one is queued. */
  #queue: Uint8Array[] = NO_CHUNKS;
  #wantDrain = false;
  #writeClosing = false;
  #closing = false;
  #closed = false;
  #inputEnded = false;

  constructor(socket: BunSocket, unixPath: string | undefined) {
    this.#socket = socket;
    if (unixPath !== undefined) {
      this.#localAddress = unixPath;
      this.remoteAddress = "";
    } else {
      const host = socket.remoteAddress;
      if (host !== lastPeerHost) lastPeerHost = host;
      this.remoteAddress = [lastPeerHost, socket.remotePort ?? 0];
    }
    socket.pause();
  }

  /** Read on first use: most servers never need it, and every open connection would hold it. */
  get localAddress(): SocketAddress {
    const socket = this.#socket;
    return this.#localAddress ??= [socket.localAddress ?? "", socket.localPort ?? 0];
  }

  attach(events: StreamSocketEvents): void {
    this.#events = events;
    const early = this.#early;
    this.#early = null;
    if (early !== null) { for (const event of early) this.#deliver(event); }
    if (!this.#closed) this.#socket.resume();
  }

  #deliver(event: ["data", Uint8Array] | ["end"] | ["error", Error] | ["close"]): void {
    const events = this.#events;
    if (events === null) {
      (this.#early ??= []).push(event);
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
    else (this.#early ??= []).push(["data", chunk]);
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
    this.#queue = NO_CHUNKS;
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
    if (this.#queue === NO_CHUNKS) this.#queue = [];
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
    this.#queue = NO_CHUNKS;
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

/**
 * `Bun.listen` as a {@link StreamListener}. Bun accepts every connection it can, and its listener has no pause: so
 * while the server takes none (at a concurrency cap, or busy in sync mode), the listener pauses this way instead: a
 * duplicate of the listening descriptor keeps the socket (and the connections waiting in its backlog) alive while
 * `stop()` removes Bun's listener, and `Bun.listen({ fd })` starts a new one on it when the server takes again. Where
 * `bun:ffi` cannot duplicate a descriptor, connections are held in the process instead, up to the listen backlog.
 */
class BunStreamListener implements StreamListener {
  readonly address: SocketAddress;
  #listener: BunListener;
  #queue: PullQueue<BunStreamSocket>;
  #handlers: Record<string, unknown>;
  #unixPath: string | undefined;
  #descriptors: Descriptors | null;
  /** The duplicate that holds the socket while paused; -1 while listening. */
  #spare = -1;
  #closed = false;

  constructor(options: StreamListenOptions, descriptors: Descriptors | null) {
    const unixPath = options.transport === "unix" ? options.path : undefined;
    this.#unixPath = unixPath;
    this.#descriptors = descriptors;
    const flow = descriptors === null ? undefined : { pause: () => this.#pause(), resume: () => this.#resume() };
    const queue = new PullQueue<BunStreamSocket>(options.backlog, (socket) => socket.abort(), flow);
    this.#queue = queue;
    const socket = {
      ...streamHandlers,
      open(raw: BunSocket): void {
        // Reset before it was accepted (it has no peer address): the client's business, skipped as Deno's adapter does.
        if (unixPath === undefined && raw.remoteAddress == null) return raw.terminate();
        const wrapped = new BunStreamSocket(raw, unixPath);
        raw.data = wrapped;
        queue.push(wrapped);
      },
    };
    this.#handlers = { allowHalfOpen: true, binaryType: "uint8array", socket };
    const where = options.transport === "unix"
      ? { unix: options.path }
      : { hostname: options.hostname, port: options.port, exclusive: !options.reusePort, reusePort: options.reusePort };
    try {
      this.#listener = bun().listen({ ...where, ...this.#handlers });
    } catch (error) {
      const described = options.transport === "unix" ? options.path : formatAddress([options.hostname, options.port]);
      throw bindError(error, described, unixPath);
    }
    this.address = unixPath ?? [this.#listener.hostname ?? "", this.#listener.port ?? 0];
  }

  static async listen(options: StreamListenOptions): Promise<BunStreamListener> {
    return new BunStreamListener(options, await loadDescriptors());
  }

  /** Stops taking connections; they wait in the kernel's backlog. Runs inside Bun's `open`, which Bun allows. */
  #pause(): void {
    if (this.#closed || this.#descriptors === null) return;
    const listener = this.#listener;
    // Only a listener made with a path removes its file (`unix` is unset on one started on a descriptor).
    const path = listener.unix === undefined ? undefined : this.#unixPath;
    this.#spare = stopKeepingSocket(this.#descriptors, listener.fd, path, () => listener.stop(false));
  }

  /** Takes connections again, from the same socket: those waiting in its backlog first. */
  #resume(): void {
    if (this.#spare < 0 || this.#closed) return;
    try {
      this.#listener = bun().listen({ fd: this.#spare, ...this.#handlers });
      this.#spare = -1;
    } catch {
      // Out of memory or descriptors for a moment: the connections keep waiting in the backlog meanwhile.
      setTimeout(() => this.#resume(), RELISTEN_DELAY);
    }
  }

  accept(): Promise<StreamSocket | null> {
    return this.#queue.take();
  }

  deliverTo(sink: ((socket: StreamSocket | null) => void) | null): boolean {
    return this.#queue.deliverTo(sink);
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#queue.close();
    if (this.#spare >= 0) {
      this.#descriptors?.close(this.#spare);
      this.#spare = -1;
    } else this.#listener.stop(false);
    return Promise.resolve();
  }
}

/** Tries of one `send()` that meet ECONNREFUSED left by earlier datagrams (see `BunDatagramSocket.#trySend`). */
const SEND_ATTEMPTS = 4;

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
          // Without it, each error is uncaught. The usual one is ECONNREFUSED: an ICMP "port unreachable" for an
          // earlier reply, from a client that left before it (Bun reads the socket's error queue). It concerns no
          // datagram to come, and nothing else is reported here that a datagram server could act on (Node's adapter
          // ignores its socket's errors too).
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
      if (this.#trySend(data, to)) return RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#sendWhenRoom(data, to);
  }

  /**
   * `send()`, past the errors of earlier datagrams. Linux hands a pending ICMP error (ECONNREFUSED: an earlier reply's
   * client left) to the next `sendto`, which then fails without sending: this datagram is sent again, up to a few
   * times (each try takes one pending error).
   */
  #trySend(data: Uint8Array, to: InetAddress): boolean {
    for (let attempt = 1;; attempt++) {
      try {
        return this.#socket.send(data, to[1], to[0]);
      } catch (error) {
        if ((error as { code?: unknown }).code !== "ECONNREFUSED" || attempt >= SEND_ATTEMPTS) throw error;
      }
    }
  }

  /** `send()` returned false: the kernel buffer is full. Waits for room, as a blocking `sendto` would. */
  async #sendWhenRoom(data: Uint8Array, to: InetAddress): Promise<void> {
    do await new Promise<void>((resolve) => this.#drainWaiters.push(resolve)); while (!this.#trySend(data, to));
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
  // An inherited descriptor goes through node:net: Bun.listen takes one at run time, but its types do not say so.
  listenStream: (options) =>
    options.fd !== undefined ? NodeStreamListener.listen(options) : BunStreamListener.listen(options),
  // Bun.udpSocket has no reusePort: node:dgram has, in Bun too.
  listenDatagram: (options) =>
    options.transport === "udp" && options.reusePort
      ? NodeDatagramSocket.bind(options)
      : BunDatagramSocket.bind(options),
  lookupHost,
  unixPathState,
  removeFile,
  startWorker: startWebWorker,
  availableParallelism: webParallelism,
  childProcesses,
  connectStream: nodeConnectStream,
  tls: nodeTls,
  // Bun.listen has reusePort; for UDP node:dgram has it (Bun.udpSocket has not).
  reusePort: { stream: nodeReusePort, datagram: nodeReusePort },
};
