/**
 * `node:dgram` sockets as the transport interface: the datagram half of the Node adapter, also Bun's for UDP with
 * `reusePort` (which `Bun.udpSocket` lacks).
 *
 * @module
 */
import dgram from "node:dgram";
import { formatAddress } from "../src/address.ts";
import { UnsupportedError } from "../src/errors.ts";
import type { Datagram, DatagramListenOptions, DatagramSocket, SocketAddress } from "../src/transport.ts";
import { bindError } from "./_files.ts";
import { requireReusePort } from "./_node_stream.ts";
import { DATAGRAM_QUEUE_LIMIT, PullQueue } from "./_pull_queue.ts";

/** A `node:dgram` socket as a {@link DatagramSocket}. */
export class NodeDatagramSocket implements DatagramSocket {
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
      queue.push(
        message.length > max ? { data: new Uint8Array(0), from, oversize: message.length } : { data: message, from },
      );
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

  deliverTo(sink: ((datagram: Datagram | null) => void) | null): boolean {
    return this.#queue.deliverTo(sink);
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
