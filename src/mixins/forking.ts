/**
 * `ForkingMixIn`: each request runs in a child process, so a crash or a state change in one request cannot touch the
 * server or other requests.
 *
 * How it works, and what differs from Python's `os.fork()`:
 * - **A child of the same runtime runs the handler.** The connection itself is handed to the child (its file
 *   descriptor travels over the IPC channel), so the child reads and writes the client directly: no byte passes
 *   through the server. The server then closes its copy, as Python's parent does. For datagram servers the child gets
 *   the packet and the client's address, and the replies it sends leave through the server's socket.
 * - **Fresh module state, not a copy of memory.** `fork()` copies the parent; a runtime cannot, so each child starts
 *   fresh and imports the handler class by URL: it needs `static override moduleUrl = import.meta.url;` and must be
 *   exported (a server whose handler lacks it refuses to bind, with a `HandlerLoadError` saying what to add).
 *   Module-level variables start from their initial values in every child, and `this.server` is a
 *   {@link ForkedServerView}: a copy of the server's JSON data fields. That is the one difference from `fork()`.
 * - **Children are started ahead of need.** Starting a runtime costs 13–67 ms (CPython's `fork()` about 1 ms), so
 *   {@link ForkingOptions.spareChildren} children (default 2) are kept started and idle, with the handler module
 *   loaded: a request rarely waits for a start. By default a child serves one request and exits, which keeps the
 *   original's isolation (nothing a request changes survives it); {@link ForkingOptions.requestsPerChild} lets a child
 *   serve several, one after the other, for speed.
 * - **Python's controls.** {@link ForkingOptions.maxChildren} (default 40) caps the child processes alive, spares
 *   included: at the cap the server stops taking requests until a child exits. `activeChildren` holds their pids,
 *   `collectChildren()` tops up the spares (with `{ blocking: true }` it waits for the children serving requests),
 *   `timeout` defaults to 300 s as in Python, and `serverClose()` waits for the children when `blockOnClose` is
 *   `true` (the default), then ends the spares. Only processes the server started are ever signalled or waited for.
 * - **Exit statuses.** A child exits with status 0 after its requests, or 1 after a handler failed: the error is
 *   reported in the child, where `handleError()`'s default runs (on the shared stderr), and the child ends since its
 *   state may be damaged. `handleChildExit()` sees every exit in the parent. A child killed in the middle of a request
 *   (a signal, a crash) fails that request with `ChildProcessError`, reported to `handleError()` in the parent; the
 *   client's connection closes with the child; the server goes on.
 * - **Deno permissions.** A Deno child gets exactly {@link ForkingOptions.childPermissions} (default none: it can
 *   serve its connection and nothing else; no reading or writing files, no network, no environment, no processes),
 *   never the parent's permissions and never `--allow-all` (which Deno's own `fork()` gives). It loads its handler
 *   module without read permission. Bun and Node have no permissions.
 * - **Node** runs the compiled `dist/` (Node 20), so children import handlers from their compiled `.js`.
 *
 * @module
 */
import { type RequestHandlerClass, runHandler } from "../base_request_handler.ts";
import { Connection } from "../connection.ts";
import { UnsupportedError } from "../errors.ts";
import { ChildPool, type ChildPoolLimits, type PooledChild } from "../forking/child_pool.ts";
import { fromBase64, toBase64 } from "../forking/protocol.ts";
import { snapshotForChild } from "../forking/server_view.ts";
import { checkProxyProtocol, readProxyHeader } from "../proxy/options.ts";
import { handlerLocation } from "../handler_location.ts";
import { CONNECTIONS_HANDED_ON_UNREAD } from "../tcp_server.ts";
import type { ChildExit, ChildProcesses, Runtime, SocketAddress, StreamListenOptions } from "../transport.ts";
import type { TlsConfig } from "../tls/options.ts";
import type { ServerClass } from "./server_class.ts";
// Named only by the documentation above (its links to the options), which the linter does not count as a use.
// deno-lint-ignore no-unused-vars
import type { ForkingOptions } from "../forking/options.ts";
import {
  type CollectChildrenOptions,
  DEFAULT_MAX_CHILDREN,
  DEFAULT_SPARE_CHILDREN,
  type ForkingServer,
} from "../forking/options.ts";
import {
  assertJsonData,
  isDatagramRequest,
  proxyFieldsOf,
  proxyProtocolOf,
  takeBuffered,
} from "../forking/request_message.ts";

/**
 * Makes each request run in a child process of the same runtime (see the module documentation for the design): the
 * handler class must be importable by URL (`static override moduleUrl = import.meta.url;`). `processRequest()` waits
 * while `maxChildren` children are alive, promises the request a child and returns; `finishRequest()` hands the
 * request over and awaits the child, so `shutdownRequest()` runs in the parent as for every other server.
 *
 * @example A server class of your own, each request in a child process
 * ```ts
 * import { ForkingMixIn, UnixStreamServer } from "@sockserve/sockserve";
 * import { StreamRequestHandler } from "@sockserve/sockserve/handlers";
 *
 * // Children import the handler by URL, so it is exported; in a real program it lives in a module of its own.
 * export class WhoServes extends StreamRequestHandler {
 *   static override moduleUrl: string = import.meta.url;
 *   override async handle() {
 *     await this.wfile.write("served by a child process\n");
 *   }
 * }
 *
 * // The constructor keeps the base class's options type: set the mix-in's options as fields.
 * class SmallForkingServer extends ForkingMixIn(UnixStreamServer) {
 *   override maxChildren = 8;
 *   override requestsPerChild = 100; // a child serves 100 requests, one after the other, then exits
 * }
 *
 * const server = new SmallForkingServer("/tmp/forking.sock", WhoServes);
 * ```
 */
// deno-lint-ignore no-explicit-any
export function ForkingMixIn<Base extends ServerClass>(base: Base): Base & (new (...args: any[]) => ForkingServer) {
  class ForkingServerMixIn extends base implements ForkingServer {
    declare maxChildren: number;
    declare spareChildren: number;
    declare requestsPerChild: number;
    declare childPermissions: readonly string[];
    static {
      this.prototype.maxChildren = DEFAULT_MAX_CHILDREN;
      this.prototype.spareChildren = DEFAULT_SPARE_CHILDREN;
      this.prototype.requestsPerChild = 1;
      this.prototype.childPermissions = [];
      // The parent hands connections on unread: a PROXY protocol header is read in the child (see connectionStages()).
      (this.prototype as { [CONNECTIONS_HANDED_ON_UNREAD]?: boolean })[CONNECTIONS_HANDED_ON_UNREAD] = true;
      // Python's ForkingMixIn.timeout: handleRequest() collects children every 300 s when idle.
      this.prototype.timeout = 300_000;
    }

    #pool: ChildPool | undefined;
    #poolClosed = false;
    #closing: Promise<void> | undefined;
    #promised = new Map<unknown, PooledChild>();
    #inChild = new Map<unknown, PooledChild>();
    #forkingRuntime: { base: Runtime; derived: Runtime } | undefined;

    /**
     * The runtime adapter, with stream connections accepted through the runtime's child-process support: only those
     * can be handed to a child.
     */
    override get runtime(): Runtime {
      const runtime: Runtime = super.runtime;
      const children = runtime.childProcesses;
      if (children === undefined) return runtime;
      if (this.#forkingRuntime?.base !== runtime) {
        const derived: Runtime = Object.create(runtime, {
          listenStream: { value: (options: StreamListenOptions) => children.listenStream(options) },
        });
        this.#forkingRuntime = { base: runtime, derived };
      }
      return this.#forkingRuntime.derived;
    }

    get activeChildren(): ReadonlySet<number> {
      return this.#pool?.pids ?? new Set();
    }

    /** Checks, before binding, that children can be started and can import the handler. */
    override serverBind(): void | Promise<void> {
      this.applyOptions();
      this.#children();
      this.#limits();
      this.#permissions();
      handlerLocation(this.RequestHandlerClass as RequestHandlerClass<never, never>);
      return super.serverBind();
    }

    /** Starts listening, then starts the spare children. */
    override async serverActivate(): Promise<void> {
      await super.serverActivate();
      this.#ensurePool().topUp();
    }

    /** Waits while `maxChildren` children are alive, promises the request a child, starts serving it and returns. */
    override async processRequest(request: unknown, clientAddress: unknown): Promise<void> {
      let child: PooledChild;
      try {
        child = await this.#ensurePool().reserve();
      } catch (error) {
        if (!this.#poolClosed) throw error;
        // Closed while waiting at the cap: the request is closed, as any request not served at close.
        await this.shutdownRequest(request);
        return;
      }
      this.#promised.set(request, child);
      void this.serveRequest(request, clientAddress).finally(() => {
        // A finishRequest override that served the request in the parent leaves its child unused.
        const unused = this.#promised.get(request);
        if (unused === undefined) return;
        this.#promised.delete(request);
        this.#pool?.release(unused);
      });
    }

    /** Hands the request to a child and waits for it (see {@link ForkingServer.handToChild}). */
    override finishRequest(request: unknown, clientAddress: unknown): Promise<void> {
      return this.handToChild(request, clientAddress);
    }

    async handToChild(request: unknown, clientAddress: unknown): Promise<void> {
      const pool = this.#ensurePool();
      let child = this.#promised.get(request);
      if (child !== undefined) this.#promised.delete(request);
      else child = await pool.reserve();
      this.#inChild.set(request, child);
      try {
        if (request instanceof Connection) {
          if (!(await this.#children().detach(request.socket))) {
            pool.release(child);
            throw new UnsupportedError(
              "this connection cannot be handed to a child process: it was not accepted by a forking server",
            );
          }
          const prefix = await takeBuffered(request);
          await pool.run(
            child,
            {
              type: "stream",
              clientAddress: clientAddress as SocketAddress,
              localAddress: request.localAddress,
              prefix,
              tls: (this as { tlsConfig?: TlsConfig | null }).tlsConfig ?? null,
              ...proxyFieldsOf(this, request),
            },
            request.socket,
            () => {},
          );
        } else if (isDatagramRequest(request)) {
          let replies = Promise.resolve();
          await pool.run(
            child,
            { type: "datagram", clientAddress: clientAddress as SocketAddress | null, data: toBase64(request.data) },
            undefined,
            (reply) => {
              // In order, as the child sent them; a failed send is reported as any error of this request.
              replies = replies.then(() => request.socket.send(fromBase64(reply.data), reply.to)).catch((error) =>
                this.#report(request, clientAddress, error)
              );
            },
          );
          await replies;
        } else {
          assertJsonData(request, clientAddress);
          await pool.run(child, { type: "value", request, clientAddress }, undefined, () => {});
        }
      } finally {
        this.#inChild.delete(request);
      }
    }

    async runInParent(
      request: unknown,
      clientAddress: unknown,
      handlerClass: RequestHandlerClass<never, never>,
    ): Promise<void> {
      // Connections of a forking server read nothing until asked: a request handed straight on never reads here.
      if (request instanceof Connection) {
        request.socket.resume();
        // The parent reads this connection anyway: its PROXY protocol header too, before the handler here.
        const options = proxyProtocolOf(this).proxyProtocol;
        if (options !== undefined && request.proxyHeader === null) {
          try {
            await readProxyHeader(request, checkProxyProtocol(options));
          } catch (error) {
            request.abort();
            await (this as { handleRejectedConnection?(connection: Connection, error: unknown): unknown })
              .handleRejectedConnection?.(request, error);
            return;
          }
          clientAddress = request.clientAddress;
        }
      }
      const handler = new (handlerClass as unknown as RequestHandlerClass<unknown, unknown>)(
        request,
        clientAddress,
        this as never,
      );
      await runHandler(handler);
    }

    /** Kills the child serving the request (when `drainTimeout` expires at close); otherwise aborts as usual. */
    override abortRequest(request: unknown): void | Promise<void> {
      const child = this.#inChild.get(request);
      if (child !== undefined && this.#pool !== undefined) {
        this.#pool.kill(child);
        return;
      }
      return super.abortRequest(request);
    }

    /** Python's `service_actions`: collects children. */
    override async serviceActions(): Promise<void> {
      await super.serviceActions();
      await this.collectChildren();
    }

    /** Python's `handle_timeout`: collects children. */
    override async handleTimeout(): Promise<void> {
      await super.handleTimeout();
      await this.collectChildren();
    }

    async collectChildren(options: CollectChildrenOptions = {}): Promise<void> {
      const pool = this.#pool;
      if (pool === undefined || this.#poolClosed) return;
      if (options.blocking) await pool.whenQuiet();
      pool.topUp();
    }

    handleChildExit(_exit: ChildExit): void | Promise<void> {}

    /**
     * Closes the server as `BaseServer` does (waiting for requests, and so for the children serving them, with
     * `blockOnClose`), then ends the spare children; with `blockOnClose`, waits until every child exited.
     */
    override serverClose(): Promise<void> {
      this.#closing ??= (async () => {
        try {
          await super.serverClose();
        } finally {
          this.#poolClosed = true;
          await this.#pool?.close(this.blockOnClose);
        }
      })();
      return this.#closing;
    }

    #ensurePool(): ChildPool {
      if (this.#pool !== undefined) return this.#pool;
      const handler = handlerLocation(this.RequestHandlerClass as RequestHandlerClass<never, never>);
      this.#pool = new ChildPool({
        processes: this.#children(),
        start: { handler, denoFlags: this.#permissions() },
        limits: () => this.#limits(),
        serverView: snapshotForChild(this),
        onExit: (exit) => void this.#childExited(exit),
      });
      if (this.#poolClosed) void this.#pool.close(false);
      return this.#pool;
    }

    async #childExited(exit: ChildExit): Promise<void> {
      try {
        await this.handleChildExit(exit);
      } catch (error) {
        await this.#report(null, null, error);
      }
    }

    async #report(request: unknown, clientAddress: unknown, error: unknown): Promise<void> {
      try {
        await this.handleError(request, clientAddress, error);
      } catch (failure) {
        console.error("handleError() itself failed; the server goes on:", failure);
      }
    }

    #children(): ChildProcesses {
      const runtime: Runtime = this.runtime;
      if (runtime.childProcesses === undefined) {
        throw new UnsupportedError(
          `the ${runtime.name} runtime adapter cannot start child processes: forking is not available`,
        );
      }
      return runtime.childProcesses;
    }

    #limits(): ChildPoolLimits {
      const { maxChildren, spareChildren, requestsPerChild } = this;
      if (!Number.isInteger(maxChildren) || maxChildren < 1) {
        throw new RangeError(`maxChildren must be a positive integer, got ${maxChildren}`);
      }
      if (!Number.isInteger(spareChildren) || spareChildren < 0) {
        throw new RangeError(`spareChildren must be a non-negative integer, got ${spareChildren}`);
      }
      if (!(Number.isInteger(requestsPerChild) || requestsPerChild === Infinity) || requestsPerChild < 1) {
        throw new RangeError(`requestsPerChild must be a positive integer or Infinity, got ${requestsPerChild}`);
      }
      return { maxChildren, spareChildren, requestsPerChild };
    }

    #permissions(): readonly string[] {
      const flags = this.childPermissions;
      if (!Array.isArray(flags) || !flags.every((flag) => typeof flag === "string")) {
        throw new TypeError(`childPermissions must be an array of Deno flags (strings), got ${String(flags)}`);
      }
      return flags;
    }
  }
  return ForkingServerMixIn;
}
