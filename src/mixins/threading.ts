/**
 * `ThreadingMixIn`: each request runs in a worker thread (a Web Worker on Deno and Bun, `node:worker_threads` on
 * Node), so a handler that burns CPU or blocks does not stall the server or other clients.
 *
 * How it works, and what differs from Python's threads:
 * - **Handlers are imported by URL.** A worker starts with fresh module state and cannot receive a class: the handler
 *   class says where it lives with `static override moduleUrl = import.meta.url;` and is exported from that module.
 *   A server whose handler lacks it refuses to bind, with a `HandlerLoadError` saying what to add.
 * - **No shared memory.** Workers do not see the main thread's variables, nor each other's. A handler's
 *   `this.server` is a `ThreadingServerView`: a frozen copy of the server's data fields. Share state through a
 *   `SharedArrayBuffer` in a server field (with `Atomics`), or through a database, a file, or a socket.
 * - **Sockets stay in the main thread.** No runtime can move an accepted socket into a worker, so the main thread
 *   keeps it and bytes cross a `MessagePort` as transferred `ArrayBuffer`s, with credit-based flow control both ways
 *   (at most 256 KiB in flight per direction and request): a handler writing to a slow client waits for it, and a
 *   client flooding a slow handler is paused. The handler sees the usual `rfile`, `wfile`, `connection`, timeouts,
 *   half-close and resets. Datagram handlers get the packet; the replies they send leave through the server's socket.
 * - **A pool, not a thread per request.** Workers start on demand (2–25 ms each), are reused, are capped by
 *   {@link ThreadingOptions.maxWorkers} (default: the number of CPU cores, at least 2) and end after
 *   {@link ThreadingOptions.workerIdleTimeout} idle (default 10 s). A worker serves several requests at once, as
 *   the main thread's event loop would (up to {@link ThreadingOptions.maxRequestsPerWorker}, default 1024): a request
 *   goes to an idle worker first, then to a new one while under the cap, then to the least busy one. So a handler
 *   that blocks its thread delays only the requests sharing its worker; set `maxRequestsPerWorker: 1` for Python's
 *   strict one-request-per-thread (then `maxWorkers` is the cap on requests served at once). At the cap,
 *   the server stops taking requests until one finishes: new connections wait in the listen backlog.
 * - **Python's semantics.** An error thrown by a handler reaches `handleError()` in the main thread with its class,
 *   message and the worker's stack; `shutdownRequest()` always runs in the main thread; `serverClose()` waits for
 *   requests in flight when `blockOnClose` is `true` (Python's default), then ends every worker. With `blockOnClose:
 *   false` (Python's `daemon_threads`) it returns at once; requests in flight finish and their workers end after them.
 *   Finished requests are forgotten at once: nothing grows with the number of requests (no counterpart of bpo-37193).
 * - **Faults.** An uncaught error, an unhandled rejection or `process.exit()` (which throws `ExitInWorkerError` in a
 *   worker) fails only the request the runtime attributes it to, as if its handler had thrown it; one it does not
 *   attribute is reported to `handleError()` as a `WorkerFaultError` with no request. Either way the worker goes on
 *   serving its other requests (which runtime attributes what: the README's "Limits and timeouts"). A worker that dies
 *   anyway fails the requests it was serving with `WorkerExitedError` (its `cause` is the worker's error), each
 *   reported to `handleError()` and closed; the next request starts a fresh worker. A handler module that cannot be
 *   loaded fails its request with a `HandlerLoadError` naming the module and the export; the server goes on.
 * - **Deno permissions.** Workers have the server's permissions (Deno's default). They import the library and the
 *   handler module, so the server needs read access to those files (`--allow-read`), besides `--allow-net`.
 * - **Node** runs the compiled `dist/` (Node 20), so handlers are imported from their compiled `.js`: `import.meta.url`
 *   of compiled code already names it.
 *
 * @module
 */
import type { RequestHandlerClass } from "../base_request_handler.ts";
import { Connection } from "../connection.ts";
import type { DatagramRequest } from "../datagram_request_handler.ts";
import { ServerStateError, UnsupportedError } from "../errors.ts";
import { type HandlerLocation, handlerLocation } from "../handler_location.ts";
import { TCPServer, type TCPServerOptions, UnixStreamServer } from "../tcp_server.ts";
import { DatagramSession } from "../threading/datagram_session.ts";
import { type RequestSession, ValueSession } from "../threading/request_session.ts";
import { snapshotServer } from "../threading/server_view.ts";
import { StreamSession } from "../threading/stream_session.ts";
import { WorkerPool } from "../threading/worker_pool.ts";
import type { InetAddress, Runtime, SocketAddress, UnixAddress } from "../transport.ts";
import { UDPServer, type UDPServerOptions, UnixDatagramServer } from "../udp_server.ts";
import type { ServerClass } from "./server_class.ts";

/** Default of {@link ThreadingOptions.maxRequestsPerWorker}. */
export const DEFAULT_MAX_REQUESTS_PER_WORKER = 1024;
/** Default of {@link ThreadingOptions.workerIdleTimeout}, in milliseconds. */
export const DEFAULT_WORKER_IDLE_TIMEOUT = 10_000;

/** Options `ThreadingMixIn` adds. Each may also be set as a subclass field or getter. */
export interface ThreadingOptions {
  /** Most worker threads at once. `null` (default): the number of CPU cores, at least 2. */
  maxWorkers?: number | null;
  /**
   * Most requests one worker serves at once (default 1024: a connection awaiting a read costs a worker a few KB, and
   * a lower cap lets a handful of idle clients shut everyone out). `1` gives each request a thread to itself, as
   * Python does; the server then serves at most `maxWorkers` requests at once.
   */
  maxRequestsPerWorker?: number;
  /** Milliseconds an idle worker lives before it ends (default 10 000). */
  workerIdleTimeout?: number;
}

/** What `ThreadingMixIn` adds to a server. */
export interface ThreadingServer {
  /** Most worker threads at once, or `null` for the number of CPU cores (at least 2). */
  maxWorkers: number | null;
  /** Most requests one worker serves at once. */
  maxRequestsPerWorker: number;
  /** Milliseconds an idle worker lives. */
  workerIdleTimeout: number;
  /** Worker threads alive now. */
  readonly workerCount: number;
  /** Worker threads started so far, replacements of dead ones included. */
  readonly workersStarted: number;
}

/**
 * Makes each request run in a worker thread from a pool (see the module documentation for the design): the handler
 * class must be importable by URL (`static override moduleUrl = import.meta.url;`). `processRequest()` hands the
 * request to a worker and returns; `finishRequest()` is what awaits it, so `handleError()` and `shutdownRequest()`
 * run in the main thread as for every other server.
 *
 * @example A server class of your own, its handlers on worker threads
 * ```ts
 * import { type Connection, type SocketAddress, TCPServer, ThreadingMixIn } from "@sockserve/sockserve";
 * import { StreamRequestHandler } from "@sockserve/sockserve/handlers";
 *
 * // Workers import the handler by URL, so it is exported; in a real program it lives in a module of its own.
 * export class Hello extends StreamRequestHandler {
 *   static override moduleUrl: string = import.meta.url;
 *   override async handle() {
 *     await this.wfile.write("hello from a worker\n");
 *   }
 * }
 *
 * class LocalOnlyServer extends TCPServer {
 *   override verifyRequest(_request: Connection, clientAddress: SocketAddress): boolean {
 *     return clientAddress[0] === "127.0.0.1"; // runs in the main thread, as every server method does
 *   }
 * }
 * // The constructor keeps the base class's options type: set the mix-in's options as fields.
 * class ThreadingLocalOnlyServer extends ThreadingMixIn(LocalOnlyServer) {
 *   override maxWorkers = 4;
 * }
 *
 * const server = new ThreadingLocalOnlyServer(["0.0.0.0", 8000], Hello);
 * ```
 */
// deno-lint-ignore no-explicit-any
export function ThreadingMixIn<Base extends ServerClass>(base: Base): Base & (new (...args: any[]) => ThreadingServer) {
  class ThreadingServerMixIn extends base implements ThreadingServer {
    declare maxWorkers: number | null;
    declare maxRequestsPerWorker: number;
    declare workerIdleTimeout: number;
    static {
      this.prototype.maxWorkers = null;
      this.prototype.maxRequestsPerWorker = DEFAULT_MAX_REQUESTS_PER_WORKER;
      this.prototype.workerIdleTimeout = DEFAULT_WORKER_IDLE_TIMEOUT;
    }

    #pool: WorkerPool | undefined;
    #poolClosed = false;
    #closing: Promise<void> | undefined;
    #located: { handlerClass: unknown; location: HandlerLocation } | undefined;

    get workerCount(): number {
      return this.#pool?.size ?? 0;
    }

    get workersStarted(): number {
      return this.#pool?.started ?? 0;
    }

    /** Checks, before binding, that the handler can be imported by a worker and the runtime has threads. */
    override serverBind(): void | Promise<void> {
      this.applyOptions();
      this.#poolSize();
      this.#location();
      return super.serverBind();
    }

    /** Waits while the pool is full, then starts the request in a worker and returns. */
    override async processRequest(request: unknown, clientAddress: unknown): Promise<void> {
      const pool = this.#ensurePool();
      await this.waitForCapacity(pool.capacity);
      this.startRequest(request, clientAddress);
    }

    /** Serves the request in a worker; resolves or rejects as its handler ends there. */
    override finishRequest(request: unknown, clientAddress: unknown): Promise<void> {
      try {
        return this.#ensurePool().run(this.#session(request, clientAddress));
      } catch (error) {
        return Promise.reject(error);
      }
    }

    /** Closes the server as `BaseServer` does (waiting for requests with `blockOnClose`), then ends the workers. */
    override serverClose(): Promise<void> {
      this.#closing ??= (async () => {
        try {
          await super.serverClose();
        } finally {
          this.#poolClosed = true;
          const pool = this.#pool;
          if (pool !== undefined) {
            if (this.blockOnClose) await pool.close("now");
            else void pool.close("when-idle");
          }
        }
      })();
      return this.#closing;
    }

    #session(request: unknown, clientAddress: unknown): RequestSession {
      const location = this.#location();
      if (request instanceof Connection) return new StreamSession(location, request, clientAddress as SocketAddress);
      if (isDatagramRequest(request)) {
        return new DatagramSession(location, request, clientAddress as SocketAddress | null);
      }
      return new ValueSession(location, request, clientAddress);
    }

    #location(): HandlerLocation {
      const handlerClass = this.RequestHandlerClass;
      if (this.#located?.handlerClass !== handlerClass) {
        this.#located = { handlerClass, location: handlerLocation(handlerClass as RequestHandlerClass<never, never>) };
      }
      return this.#located.location;
    }

    #ensurePool(): WorkerPool {
      if (this.#pool !== undefined) return this.#pool;
      if (this.#poolClosed) throw new ServerStateError("the server is closed: the request was not started");
      const maxWorkers = this.#poolSize();
      const perWorker = this.maxRequestsPerWorker;
      if (!Number.isInteger(perWorker) || perWorker < 1) {
        throw new RangeError(`maxRequestsPerWorker must be a positive integer, got ${perWorker}`);
      }
      const idleTimeout = this.workerIdleTimeout;
      if (typeof idleTimeout !== "number" || !(idleTimeout >= 0)) {
        throw new RangeError(`workerIdleTimeout must be a number of milliseconds, got ${idleTimeout}`);
      }
      this.#pool = new WorkerPool({
        runtime: this.runtime,
        maxWorkers,
        maxRequestsPerWorker: perWorker,
        idleTimeout,
        serverView: snapshotServer(this),
        name: this.constructor.name,
        onFault: (error) => void this.#reportFault(error),
      });
      return this.#pool;
    }

    /** A fault in a worker that belongs to no request goes to `handleError()` with no request. */
    async #reportFault(error: Error): Promise<void> {
      try {
        await this.handleError(null, null, error);
      } catch (failure) {
        console.error("handleError() itself failed; the server goes on:", failure);
      }
    }

    /** The worker cap, checked; refuses a runtime adapter without threads. */
    #poolSize(): number {
      const runtime: Runtime = this.runtime;
      if (typeof runtime.startWorker !== "function") {
        throw new UnsupportedError(
          `the ${runtime.name} runtime adapter has no worker threads: threading is not available`,
        );
      }
      const cap = this.maxWorkers;
      if (cap === null) return Math.max(2, runtime.availableParallelism?.() ?? 2);
      if (!Number.isInteger(cap) || cap < 1) {
        throw new RangeError(`maxWorkers must be a positive integer or null, got ${cap}`);
      }
      return cap;
    }
  }
  return ThreadingServerMixIn;
}

function isDatagramRequest(request: unknown): request is DatagramRequest {
  if (request === null || typeof request !== "object") return false;
  const candidate = request as Partial<DatagramRequest>;
  return candidate.data instanceof Uint8Array && typeof candidate.socket?.send === "function";
}

/** `ThreadingMixIn(TCPServer)`: the class {@link ThreadingTCPServer} extends. Use `ThreadingTCPServer` itself. */
// deno-lint-ignore no-explicit-any
export const ThreadingTCPServerBase: typeof TCPServer & (new (...args: any[]) => ThreadingServer) = ThreadingMixIn(
  TCPServer,
);

/**
 * A TCP server serving each connection in a worker thread (Python's `ThreadingTCPServer`), so that a handler that
 * burns CPU does not stall other clients. The handler class needs `static override moduleUrl = import.meta.url;` and
 * must be exported. On Deno, workers have the server's permissions and need read access to the handler module.
 *
 * @example A CPU-bound handler that does not stall other clients
 * ```ts
 * // handlers.ts: the module workers import the handler from. Keep the server out of it, or each worker importing it
 * // would start a server of its own.
 * import { StreamRequestHandler } from "@sockserve/sockserve/handlers";
 *
 * // FNV-1a, in JavaScript: CPU work on the handler's own thread.
 * function digest(bytes: Uint8Array): string {
 *   let hash = 0x811c9dc5;
 *   for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193);
 *   return (hash >>> 0).toString(16).padStart(8, "0");
 * }
 *
 * export class Digest extends StreamRequestHandler {
 *   static override moduleUrl: string = import.meta.url;
 *   override async handle() {
 *     const body = await this.rfile.read(); // until the client half-closes
 *     await this.wfile.write(digest(body) + "\n");
 *   }
 * }
 *
 * // server.ts: imports Digest from "./handlers.ts".
 * import { ThreadingTCPServer } from "@sockserve/sockserve";
 *
 * await using server = await new ThreadingTCPServer(["127.0.0.1", 8000], Digest, { maxWorkers: 4 }).listen();
 * await server.serveForever();
 * ```
 */
export class ThreadingTCPServer extends ThreadingTCPServerBase {
  /**
   * Stores the address, handler class and options; `listen()` binds (after checking the handler can be imported).
   *
   * @param serverAddress `[host, port]`
   * @param RequestHandlerClass a `StreamRequestHandler` subclass importable by URL
   * @param options stream server options and {@link ThreadingOptions}
   */
  constructor(
    serverAddress: InetAddress,
    RequestHandlerClass: RequestHandlerClass<Connection, SocketAddress>,
    options: TCPServerOptions & ThreadingOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }
}

/** `ThreadingMixIn(UnixStreamServer)`: the class {@link ThreadingUnixStreamServer} extends. Use `ThreadingUnixStreamServer` itself. */
// deno-lint-ignore no-explicit-any
export const ThreadingUnixStreamServerBase: typeof UnixStreamServer & (new (...args: any[]) => ThreadingServer) =
  ThreadingMixIn(UnixStreamServer);

/** A unix stream server serving each connection in a worker thread. */
export class ThreadingUnixStreamServer extends ThreadingUnixStreamServerBase {
  /**
   * Stores the address, handler class and options; `listen()` binds (after checking the handler can be imported).
   *
   * @param serverAddress the socket path
   * @param RequestHandlerClass a `StreamRequestHandler` subclass importable by URL
   * @param options stream server options and {@link ThreadingOptions}
   */
  constructor(
    serverAddress: UnixAddress,
    RequestHandlerClass: RequestHandlerClass<Connection, SocketAddress>,
    options: TCPServerOptions & ThreadingOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }
}

/** `ThreadingMixIn(UDPServer)`: the class {@link ThreadingUDPServer} extends. Use `ThreadingUDPServer` itself. */
// deno-lint-ignore no-explicit-any
export const ThreadingUDPServerBase: typeof UDPServer & (new (...args: any[]) => ThreadingServer) = ThreadingMixIn(
  UDPServer,
);

/** A UDP server handling each datagram in a worker thread; replies leave through the server's socket. */
export class ThreadingUDPServer extends ThreadingUDPServerBase {
  /**
   * Stores the address, handler class and options; `listen()` binds (after checking the handler can be imported).
   *
   * @param serverAddress `[host, port]`
   * @param RequestHandlerClass a `DatagramRequestHandler` subclass importable by URL
   * @param options datagram server options and {@link ThreadingOptions}
   */
  constructor(
    serverAddress: InetAddress,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest, SocketAddress | null>,
    options: UDPServerOptions & ThreadingOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }
}

/** `ThreadingMixIn(UnixDatagramServer)`: the class {@link ThreadingUnixDatagramServer} extends. Use `ThreadingUnixDatagramServer` itself. */
// deno-lint-ignore no-explicit-any
export const ThreadingUnixDatagramServerBase: typeof UnixDatagramServer & (new (...args: any[]) => ThreadingServer) =
  ThreadingMixIn(UnixDatagramServer);

/** A unix datagram server handling each datagram in a worker thread (Deno only: Bun and Node have no unix datagrams). */
export class ThreadingUnixDatagramServer extends ThreadingUnixDatagramServerBase {
  /**
   * Stores the address, handler class and options; `listen()` binds (after checking the handler can be imported).
   *
   * @param serverAddress the socket path
   * @param RequestHandlerClass a `DatagramRequestHandler` subclass importable by URL
   * @param options datagram server options and {@link ThreadingOptions}
   */
  constructor(
    serverAddress: UnixAddress,
    RequestHandlerClass: RequestHandlerClass<DatagramRequest, SocketAddress | null>,
    options: UDPServerOptions & ThreadingOptions = {},
  ) {
    super(serverAddress, RequestHandlerClass, options);
  }
}
