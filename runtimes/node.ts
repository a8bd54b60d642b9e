/**
 * The Node adapter: `node:net` and `node:dgram`. Also works inside Deno and Bun (about 15% slower than their own).
 *
 * @module
 */
import dgram from "node:dgram";
import net from "node:net";
import { formatAddress } from "../src/address.ts";
import { UnsupportedError } from "../src/errors.ts";
import type {
  Datagram,
  DatagramListenOptions,
  DatagramSocket,
  Runtime,
  SocketAddress,
  StreamListener,
  StreamListenOptions,
  StreamSocket,
  StreamSocketEvents,
} from "../src/transport.ts";
import { bindError, lookupHost, removeFile, unixPathState } from "./_files.ts";
import { ACCEPT_QUEUE_LIMIT, DATAGRAM_QUEUE_LIMIT, PullQueue } from "./_pull_queue.ts";

const [nodeMajor = 0, nodeMinor = 0] = (globalThis.process?.versions?.node ?? "0.0").split(".").map(Number);
const hasReusePort = nodeMajor > 22 || (nodeMajor === 22 && nodeMinor >= 12);

function requireReusePort(): void {
  if (!hasReusePort) {
    throw new UnsupportedError(`allowReusePort needs Node 22.12 or later; this is Node ${globalThis.process?.versions?.node}`);
  }
}

class NodeStreamSocket implements StreamSocket {
  readonly localAddress: SocketAddress;
  readonly remoteAddress: SocketAddress;
  #socket: net.Socket;

  constructor(socket: net.Socket, unixPath: string | undefined) {
    this.#socket = socket;
    if (unixPath !== undefined) {
      this.localAddress = unixPath;
      this.remoteAddress = "";
    } else {
      this.localAddress = [socket.localAddress ?? "", socket.localPort ?? 0];
      this.remoteAddress = [socket.remoteAddress ?? "", socket.remotePort ?? 0];
    }
  }

  attach(events: StreamSocketEvents): void {
    const socket = this.#socket;
    socket.on("data", events.data);
    socket.on("end", events.end);
    socket.on("error", events.error);
    socket.on("drain", events.drain);
    socket.on("close", events.close);
    socket.resume();
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    this.#socket.resume();
  }

  write(chunk: Uint8Array): boolean {
    return this.#socket.write(chunk);
  }

  closeWrite(): void {
    if (!this.#socket.writableEnded) this.#socket.end();
  }

  close(): void {
    const socket = this.#socket;
    if (socket.destroyed) return;
    if (socket.writableFinished || socket.writableLength === 0 && socket.writableEnded) {
      socket.destroy();
      return;
    }
    socket.once("finish", () => socket.destroy());
    if (!socket.writableEnded) socket.end();
  }

  abort(): void {
    if (!this.#socket.destroyed) this.#socket.resetAndDestroy();
  }

  setNoDelay(enabled: boolean): void {
    this.#socket.setNoDelay(enabled);
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }
}

class NodeStreamListener implements StreamListener {
  readonly address: SocketAddress;
  #server: net.Server;
  #queue: PullQueue<net.Socket>;
  #unixPath: string | undefined;

  constructor(server: net.Server, queue: PullQueue<net.Socket>, address: SocketAddress, unixPath: string | undefined) {
    this.#server = server;
    this.#queue = queue;
    this.address = address;
    this.#unixPath = unixPath;
  }

  static async listen(options: StreamListenOptions): Promise<NodeStreamListener> {
    if (options.transport === "tcp" && options.reusePort) requireReusePort();
    const unixPath = options.transport === "unix" ? options.path : undefined;
    const queue = new PullQueue<net.Socket>(ACCEPT_QUEUE_LIMIT, (socket) => socket.destroy());
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => queue.push(socket));
    const described = options.transport === "unix" ? options.path : formatAddress([options.hostname, options.port]);
    await new Promise<void>((resolve, reject) => {
      server.once("error", (error) => {
        server.close();
        reject(bindError(error, described));
      });
      const listenOptions = options.transport === "unix"
        ? { path: options.path, backlog: options.backlog }
        : {
          host: options.hostname,
          port: options.port,
          backlog: options.backlog,
          ipv6Only: options.hostname.includes(":") && options.hostname !== "::",
          ...(options.reusePort ? { reusePort: true } : {}),
        };
      server.listen(listenOptions, () => resolve());
    });
    server.on("error", () => {});
    const bound = server.address();
    const address: SocketAddress = typeof bound === "object" && bound !== null
      ? [bound.address, bound.port]
      : unixPath ?? String(bound);
    return new NodeStreamListener(server, queue, address, unixPath);
  }

  async accept(): Promise<StreamSocket | null> {
    const socket = await this.#queue.take();
    return socket === null ? null : new NodeStreamSocket(socket, this.#unixPath);
  }

  close(): Promise<void> {
    this.#queue.close();
    return new Promise((resolve) => {
      // The callback waits for every accepted connection to end; the listening socket itself closes now.
      this.#server.close();
      setImmediate(resolve);
    });
  }
}

class NodeDatagramSocket implements DatagramSocket {
  readonly address: SocketAddress;
  #socket: dgram.Socket;
  #queue: PullQueue<Datagram>;

  constructor(socket: dgram.Socket, queue: PullQueue<Datagram>, address: SocketAddress) {
    this.#socket = socket;
    this.#queue = queue;
    this.address = address;
  }

  static async bind(options: DatagramListenOptions): Promise<NodeDatagramSocket> {
    if (options.transport === "unixgram") {
      throw new UnsupportedError(
        "unix datagram sockets are not supported on Node: node:dgram has no AF_UNIX datagrams (Deno has them natively)",
      );
    }
    if (options.reusePort) requireReusePort();
    const type = options.hostname.includes(":") ? "udp6" : "udp4";
    const socket = dgram.createSocket({
      type,
      reuseAddr: options.reuseAddress,
      ...(options.reusePort ? { reusePort: true } : {}),
      ...(type === "udp6" && options.hostname !== "::" ? { ipv6Only: true } : {}),
    } as dgram.SocketOptions);
    const queue = new PullQueue<Datagram>(DATAGRAM_QUEUE_LIMIT);
    const max = options.maxPacketSize;
    socket.on("message", (message: Uint8Array, info: dgram.RemoteInfo) => {
      const from: SocketAddress = [info.address, info.port];
      queue.push(message.length > max ? { data: new Uint8Array(0), from, oversize: message.length } : { data: message, from });
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("error", (error) => {
        socket.close();
        reject(bindError(error, formatAddress([options.hostname, options.port])));
      });
      socket.bind({ address: options.hostname, port: options.port }, () => resolve());
    });
    socket.on("error", () => {});
    const bound = socket.address();
    return new NodeDatagramSocket(socket, queue, [bound.address, bound.port]);
  }

  receive(): Promise<Datagram | null> {
    return this.#queue.take();
  }

  send(data: Uint8Array, to: SocketAddress): Promise<void> {
    if (typeof to === "string") return Promise.reject(new TypeError("a UDP socket cannot send to a unix path"));
    return new Promise((resolve, reject) => {
      this.#socket.send(data, to[1], to[0], (error) => (error ? reject(error) : resolve()));
    });
  }

  close(): Promise<void> {
    this.#queue.close();
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

/** The Node adapter: `node:net` for streams, `node:dgram` for UDP. Unix datagrams are refused. */
export const nodeRuntime: Runtime = {
  name: "node",
  listenStream: (options) => NodeStreamListener.listen(options),
  listenDatagram: (options) => NodeDatagramSocket.bind(options),
  lookupHost,
  unixPathState,
  removeFile,
};
