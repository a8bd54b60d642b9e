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
import { type Descriptors, loadDescriptors, RELISTEN_DELAY, stopKeepingSocket } from "./_descriptors.ts";
import { PullQueue } from "./_pull_queue.ts";

const [nodeMajor = 0, nodeMinor = 0] = (globalThis.process?.versions?.node ?? "0.0").split(".").map(Number);
const hasReusePort = nodeMajor > 22 || (nodeMajor === 22 && nodeMinor >= 12);

/**
 * Whether `node:net` (and `node:dgram`) can set SO_REUSEPORT here and the kernel balances it: Node 22.12 or later
 * (Deno and Bun report a later Node version), on Linux (macOS gives every connection to the last listener).
 */
export const nodeReusePort: boolean = hasReusePort && globalThis.process?.platform === "linux";

/** Throws `UnsupportedError` where `node:net`/`node:dgram` cannot set SO_REUSEPORT (Node before 22.12). */
export function requireReusePort(): void {
  if (!hasReusePort) {
    throw new UnsupportedError(
      `allowReusePort needs Node 22.12 or later; this is Node ${globalThis.process?.versions?.node}`,
    );
  }
}

/** Options of every `node:net` server made here: a connection reads nothing until the consumer attaches. */
const SERVER_OPTIONS: net.ServerOpts = { allowHalfOpen: true, pauseOnConnect: true };

/**
 * A `node:net` server as a {@link StreamListener}. `node:net` accepts every connection it can, with no pause: Node's
 * `OnConnection` calls `uv_accept` at once (libuv's own backpressure, an unaccepted connection, is out of reach), a
 * listening handle's `readStart()` fails with ENOTCONN, and `close()` drops the connections waiting in the backlog.
 * So while the server takes none, at most a backlog's worth of connections wait in the process, beyond which they
 * are closed as a full kernel backlog would refuse them. On Bun, whose `node:net` listens on a descriptor, the server
 * pauses instead (see `_descriptors.ts`): the connections wait in the kernel's backlog.
 */
export class NodeStreamListener implements StreamListener {
  readonly address: SocketAddress;
  #server: net.Server;
  #queue: PullQueue<net.Socket>;
  #unixPath: string | undefined;
  #readsOnAttach: boolean;
  #descriptors: Descriptors | null;
  /** The duplicate that holds the socket while paused; -1 while listening. */
  #spare = -1;
  #closed = false;

  constructor(
    options: StreamListenOptions,
    descriptors: Descriptors | null,
    readsOnAttach: boolean,
  ) {
    this.#unixPath = options.transport === "unix" ? options.path : undefined;
    this.#readsOnAttach = readsOnAttach;
    this.#descriptors = descriptors;
    const flow = descriptors === null ? undefined : { pause: () => this.#pause(), resume: () => this.#resume() };
    this.#queue = new PullQueue<net.Socket>(options.backlog, (socket) => socket.destroy(), flow);
    this.#server = this.#newServer();
    this.address = this.#unixPath ?? "";
  }

  #newServer(): net.Server {
    const queue = this.#queue;
    const tcp = this.#unixPath === undefined;
    return net.createServer(SERVER_OPTIONS, (socket) => {
      // Read now, at accept: node:net keeps the peer address once read, so a connection reset while it waits in the
      // queue keeps it for the logs. One reset before it was accepted has none (getpeername fails): the client's
      // business, skipped as Deno's adapter does.
      if (tcp && socket.remoteAddress === undefined) socket.destroy();
      else queue.push(socket);
    });
  }

  /**
   * Binds and listens.
   *
   * @param readsOnAttach `false` for connections that read nothing until `resume()` (see {@link NodeStreamSocket})
   */
  static async listen(options: StreamListenOptions, readsOnAttach = true): Promise<NodeStreamListener> {
    if (options.transport === "tcp" && options.reusePort && options.fd === undefined) requireReusePort();
    const unixPath = options.transport === "unix" ? options.path : undefined;
    const listener = new NodeStreamListener(options, await loadDescriptors(), readsOnAttach);
    const server = listener.#server;
    const described = options.fd !== undefined
      ? `descriptor ${options.fd}`
      : options.transport === "unix"
      ? options.path
      : formatAddress([options.hostname, options.port]);
    await new Promise<void>((resolve, reject) => {
      server.once("error", (error) => {
        server.close();
        reject(bindError(error, described, unixPath));
      });
      // An inherited descriptor (systemd, a parent process, a worker pool's primary): node:net listens on it as is.
      const listenOptions = options.fd !== undefined
        ? { fd: options.fd, backlog: options.backlog }
        : options.transport === "unix"
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
    (listener as { address: SocketAddress }).address = typeof bound === "object" && bound !== null
      ? [bound.address, bound.port]
      : unixPath ?? String(bound);
    return listener;
  }

  /** Stops taking connections; they wait in the kernel's backlog (Bun). */
  #pause(): void {
    if (this.#closed || this.#descriptors === null) return;
    const server = this.#server;
    const handle = (server as unknown as { _handle?: { fd?: number; unix?: string } })._handle;
    // Only a listener made with a path removes its file (Bun's handle: `unix` is unset on one started on a descriptor).
    const path = handle?.unix === undefined ? undefined : this.#unixPath;
    this.#spare = stopKeepingSocket(this.#descriptors, handle?.fd, path, () => server.close());
  }

  /** Takes connections again, from the same socket: those waiting in its backlog first. */
  #resume(): void {
    if (this.#spare < 0 || this.#closed) return;
    const server = this.#newServer();
    server.on("error", () => {});
    try {
      server.listen({ fd: this.#spare });
      this.#server = server;
      this.#spare = -1;
    } catch {
      // Out of memory or descriptors for a moment: the connections keep waiting in the backlog meanwhile.
      setTimeout(() => this.#resume(), RELISTEN_DELAY);
    }
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
    this.#closed = true;
    this.#queue.close();
    if (this.#spare >= 0) {
      this.#descriptors?.close(this.#spare);
      this.#spare = -1;
      return Promise.resolve();
    }
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
