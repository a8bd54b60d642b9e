/**
 * `node:net` listeners as the transport interface: the stream half of the Node adapter, shared with the forking
 * support (which listens through `node:net` on every runtime, because only its sockets can be handed to a child
 * process).
 *
 * @module
 */
import net from "node:net";
import { formatAddress } from "../src/address.ts";
import { UnsupportedError } from "../src/errors.ts";
import type { SocketAddress, StreamListener, StreamListenOptions, StreamSocket, TlsSupport } from "../src/transport.ts";
import { bindError } from "./_files.ts";
import { NodeStreamSocket } from "./_node_stream_socket.ts";
import { ACCEPT_QUEUE_LIMIT, PullQueue } from "./_pull_queue.ts";

const [nodeMajor = 0, nodeMinor = 0] = (globalThis.process?.versions?.node ?? "0.0").split(".").map(Number);
const hasReusePort = nodeMajor > 22 || (nodeMajor === 22 && nodeMinor >= 12);

/** Throws `UnsupportedError` where `node:net`/`node:dgram` cannot set SO_REUSEPORT (Node before 22.12). */
export function requireReusePort(): void {
  if (!hasReusePort) {
    throw new UnsupportedError(
      `allowReusePort needs Node 22.12 or later; this is Node ${globalThis.process?.versions?.node}`,
    );
  }
}

/** A `node:net` server as a {@link StreamListener}. */
export class NodeStreamListener implements StreamListener {
  readonly address: SocketAddress;
  #server: net.Server;
  #queue: PullQueue<net.Socket>;
  #unixPath: string | undefined;
  #readsOnAttach: boolean;

  constructor(
    server: net.Server,
    queue: PullQueue<net.Socket>,
    address: SocketAddress,
    unixPath: string | undefined,
    readsOnAttach: boolean,
  ) {
    this.#server = server;
    this.#queue = queue;
    this.address = address;
    this.#unixPath = unixPath;
    this.#readsOnAttach = readsOnAttach;
  }

  /**
   * Binds and listens.
   *
   * @param readsOnAttach `false` for connections that read nothing until `resume()` (see {@link NodeStreamSocket})
   */
  static async listen(options: StreamListenOptions, readsOnAttach = true): Promise<NodeStreamListener> {
    if (options.transport === "tcp" && options.reusePort) requireReusePort();
    const unixPath = options.transport === "unix" ? options.path : undefined;
    const queue = new PullQueue<net.Socket>(ACCEPT_QUEUE_LIMIT, (socket) => socket.destroy());
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => queue.push(socket));
    const described = options.transport === "unix" ? options.path : formatAddress([options.hostname, options.port]);
    await new Promise<void>((resolve, reject) => {
      server.once("error", (error) => {
        server.close();
        reject(bindError(error, described, unixPath));
      });
      const listenOptions = options.transport === "unix" ? { path: options.path, backlog: options.backlog } : {
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
    return new NodeStreamListener(server, queue, address, unixPath, readsOnAttach);
  }

  async accept(): Promise<StreamSocket | null> {
    const socket = await this.#queue.take();
    return socket === null ? null : this.#wrap(socket);
  }

  deliverTo(sink: ((socket: StreamSocket | null) => void) | null): boolean {
    return this.#queue.deliverTo(sink && ((socket) => sink(socket === null ? null : this.#wrap(socket))));
  }

  #wrap(socket: net.Socket): NodeStreamSocket {
    return new NodeStreamSocket(socket, this.#unixPath, this.#readsOnAttach);
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

/**
 * TLS for the three adapters, on `node:tls` over `node:net` listeners (see `_node_tls.ts`, loaded on first use so
 * that servers without TLS, and every worker and child, do not load `node:tls`).
 */
export const nodeTls: TlsSupport = {
  listenStream: (options) => NodeStreamListener.listen(options),
  createContext: async (config) => (await import("./_node_tls.ts")).createNodeTlsContext(config),
};
