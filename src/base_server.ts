/**
 * `BaseServer`: the serving loop and every hook of Python's, with no socket of its own.
 *
 * @module
 */
import { ActiveRequests, TrackedRequest } from "./active_requests.ts";
import { type RequestHandlerClass, runHandler, startHandlerThen } from "./base_request_handler.ts";
import { getDefaultRuntime } from "./default_runtime.ts";
import { ClientErrorLog, isClientError } from "./client_errors.ts";
import { ServerStateError } from "./errors.ts";
import { checkOptions, checkSettings } from "./server_options.ts";
import { RESOLVED } from "./resolved.ts";
import { installDeliverySetter, type RequestDelivery } from "./request_delivery.ts";
import { RequestFetcher } from "./request_fetcher.ts";
import type { Runtime, SocketAddress } from "./transport.ts";
import { formatAddress } from "./address.ts";

/** Options every server takes. Each may also be set as a subclass field or getter; a constructor option wins. */
export interface BaseServerOptions {
  /** The runtime adapter; by default the detected one (Deno, Bun or Node). */
  runtime?: Runtime;
  /**
   * When `false`, `serveForever()` and `handleRequest()` do not bind by themselves: call `serverBind()` and
   * `serverActivate()` (or `listen()`) first, after changing what you need. Default `true`.
   */
  bindAndActivate?: boolean;
  /** Milliseconds `handleRequest()` waits for a request before calling `handleTimeout()`; `null` waits forever. */
  timeout?: number | null;
  /** `serverClose()` waits for requests in flight (default `true`); `false` is Python's `daemon_threads`. */
  blockOnClose?: boolean;
  /** With `blockOnClose`, how long `serverClose()` waits before aborting requests still running; `null`: no limit. */
  drainTimeout?: number | null;
  /** Aborting this signal stops serving, as `shutdown()` does. */
  signal?: AbortSignal;
}

/** A request and the address it came from, as `getRequest()` returns them. */
export type RequestEntry<Request, ClientAddress> = readonly [request: Request, clientAddress: ClientAddress];

const STOP: unique symbol = Symbol("stop");
const TIMEOUT: unique symbol = Symbol("timeout");
const PULL: unique symbol = Symbol("pull");
const SETTINGS = new Set(["runtime", "bindAndActivate", "signal"]);

/** What {@link BaseServer}'s `#serveDelivered` ends with: stop, the source ended, pull instead, or wait for this. */
type DeliveryOutcome = typeof STOP | typeof PULL | null | readonly [unfinished: Promise<void>];

/** A request being served, with this server's bookkeeping as its handler's sequel. */
type ActiveRequest<Request, ClientAddress> = TrackedRequest<Request, ClientAddress>;

/** Makes {@link ActiveRequest}s; defined inside `BaseServer` (in a static block) to reach its private methods. */
let ServedRequest: new <Request, ClientAddress>(
  // deno-lint-ignore no-explicit-any
  server: BaseServer<Request, ClientAddress, any>,
  request: Request,
  clientAddress: ClientAddress,
) => ActiveRequest<Request, ClientAddress>;

/**
 * Settings of {@link BaseServer} that a subclass may change with a class field or a getter. Declared in an interface
 * merged with the class, so that TypeScript accepts both forms of override.
 */
export interface BaseServer<Request = unknown, ClientAddress = unknown, ServerAddress = unknown> {
  /** Milliseconds `handleRequest()` waits for a request before calling `handleTimeout()`; `null` waits forever. */
  timeout: number | null;
  /** `serverClose()` waits for requests in flight (default `true`). */
  blockOnClose: boolean;
  /** How long `serverClose()` waits before aborting requests still running (ms); `null` (default) waits for all. */
  drainTimeout: number | null;
}

/**
 * The base of all servers, Python's `BaseServer`: it owns no socket. A subclass says where requests come from by
 * overriding {@link BaseServer.getRequest}; everything else is the same for every kind of server.
 *
 * Methods for the caller: {@link BaseServer.listen}, {@link BaseServer.serveForever},
 * {@link BaseServer.handleRequest}, {@link BaseServer.shutdown}, {@link BaseServer.serverClose}, `await using`.
 *
 * Methods that may be overridden, one by one: `serverBind`, `serverActivate`, `serverClose`, `getRequest`,
 * `verifyRequest`, `processRequest`, `finishRequest`, `shutdownRequest`, `closeRequest`, `handleError`,
 * `handleTimeout`, `serviceActions`, `abortRequest`.
 *
 * One request flows: `getRequest` → `verifyRequest` → `processRequest` → `finishRequest` (the handler's `setup`,
 * `handle`, `finish`) → `shutdownRequest` → `closeRequest`. `processRequest` is the one place concurrency lives:
 * here it waits for the request to finish (Python's synchronous server); the mix-ins change only it. (On Bun and Node
 * the socket servers take connections and datagrams straight from the runtime's callback, which is what their own
 * `getRequest` would return; a `getRequest` override is always called.)
 *
 * @example Requests from any source: rows of a table
 * ```ts
 * import { BaseRequestHandler, BaseServer, type RequestEntry } from "@sockserve/sockserve";
 *
 * interface Row {
 *   id: number;
 *   text: string;
 * }
 * const table: Row[] = [{ id: 1, text: "first" }, { id: 2, text: "second" }];
 *
 * class RowHandler extends BaseRequestHandler<Row, number> {
 *   override handle() {
 *     console.log(`row ${this.clientAddress}: ${this.request.text}`);
 *   }
 * }
 *
 * class RowServer extends BaseServer<Row, number, null> {
 *   override async getRequest(): Promise<RequestEntry<Row, number> | null> {
 *     const row = table.shift();
 *     return row === undefined ? null : [row, row.id]; // null: no more requests
 *   }
 * }
 *
 * await new RowServer(null, RowHandler).serveForever(); // returns when getRequest() gives null
 * ```
 */
export class BaseServer<Request = unknown, ClientAddress = unknown, ServerAddress = unknown> {
  /** The address the server is bound to; after binding, port 0 is replaced by the real port. */
  serverAddress: ServerAddress;
  /** The handler class; a new one serves each request. */
  RequestHandlerClass: RequestHandlerClass<Request, ClientAddress>;

  static {
    this.prototype.timeout = null;
    this.prototype.blockOnClose = true;
    this.prototype.drainTimeout = null;
    installDeliverySetter((server, delivery) => void (server.#delivery = delivery));
    ServedRequest = class<Request, ClientAddress> extends TrackedRequest<Request, ClientAddress> {
      readonly #server: BaseServer<Request, ClientAddress>;

      constructor(server: BaseServer<Request, ClientAddress>, request: Request, clientAddress: ClientAddress) {
        super(request, clientAddress);
        this.#server = server;
      }

      handlerDone(): Promise<void> | undefined {
        return this.#server.#afterServe(this);
      }

      handlerFailed(error: unknown): Promise<void> {
        return this.#server.#afterFailedServe(this, error);
      }
    };
  }

  #options: BaseServerOptions;
  #optionsApplied = false;
  #listening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #serving = false;
  #stopRequested = false;
  // Wakes the loop's current wait with STOP. One slot, replaced at each wait: racing every wait against one long-lived
  // "stopped" promise would add a reaction to it per request, kept until shutdown (a leak on a busy server).
  #wakeLoop: ((value: typeof STOP) => void) | undefined;
  #loopDone: Promise<void> = Promise.resolve();
  /** The request being fetched; kept across a `shutdown()` or a timeout so that no accepted request is lost. */
  readonly #fetcher: RequestFetcher<RequestEntry<Request, ClientAddress>> = new RequestFetcher({
    getRequest: () => this.getRequest(),
    isClosing: () => this.#closing !== undefined,
    report: (error) => this.#report(null, null, error),
  });
  /**
   * Settles once the last `handleRequest()` called has taken its request (or timed out): the next waits for it, so
   * that two never take the same one. `serveForever()` waits for it too.
   */
  #turn: Promise<void> = RESOLVED;
  readonly #active = new ActiveRequests<ActiveRequest<Request, ClientAddress>>();
  #delivery: RequestDelivery<Request, ClientAddress> | undefined;
  /** The default `handleError()`'s log of client errors, made at the first. */
  #clientErrors: ClientErrorLog | undefined;

  /**
   * Stores the address, handler class and options. Nothing is bound here (binding is asynchronous, and subclass
   * fields are not set yet): `listen()`, `serveForever()` or `handleRequest()` bind.
   *
   * @param serverAddress where to listen (its form depends on the server class)
   * @param RequestHandlerClass the handler class, constructed anew for each request
   * @param options see {@link BaseServerOptions}
   * @throws {TypeError} when an option has the wrong type, {RangeError} when it is out of range (`drainTimeout: -1`,
   * `maxConcurrentRequests: 0`); the message names the allowed range
   */
  constructor(
    serverAddress: ServerAddress,
    RequestHandlerClass: RequestHandlerClass<Request, ClientAddress>,
    options: BaseServerOptions = {},
  ) {
    if (!isConstructor(RequestHandlerClass)) {
      const got = RequestHandlerClass === null
        ? "null"
        : typeof RequestHandlerClass === "function"
        ? "a function that cannot be called with `new` (an arrow function, async function or method)"
        : typeof RequestHandlerClass;
      throw new TypeError(`RequestHandlerClass must be a handler class, got ${got}`);
    }
    if (options === null || typeof options !== "object") {
      throw new TypeError(`options must be an object, got ${options === null ? "null" : typeof options}`);
    }
    checkOptions(options as Record<string, unknown>);
    this.serverAddress = serverAddress;
    this.RequestHandlerClass = RequestHandlerClass;
    this.#options = options;
  }

  /** The runtime adapter this server uses. */
  get runtime(): Runtime {
    return this.#options.runtime ?? getDefaultRuntime();
  }

  /** True while `serveForever()` runs. */
  get serving(): boolean {
    return this.#serving;
  }

  /** True once `serverClose()` was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Requests taken and not finished yet (their handler or `shutdownRequest` still runs). */
  get activeRequests(): number {
    return this.#active.size;
  }

  /**
   * Binds and activates the server (`serverBind()` then `serverActivate()`), once; later calls wait for the first.
   * On failure the server is closed (nothing stays half-open) and the error is thrown. Checks the settings in
   * effect first (subclass fields and getters included; a TypeError or RangeError leaves the server as it was).
   *
   * @returns the server, so that `const server = await new TCPServer(...).listen()` works
   */
  async listen(): Promise<this> {
    this.applyOptions();
    // Before anything is bound: a bad value in a subclass field or getter fails here, the server left as it was.
    checkSettings(this);
    if (this.#closing !== undefined) throw new ServerStateError("cannot listen: the server is closed");
    // Bound by hand (bindAndActivate: false, then serverBind()): binding again would fail and close the server.
    this.#listening ??= this.isBound() ? Promise.resolve() : (async () => {
      try {
        await this.serverBind();
        await this.serverActivate();
      } catch (error) {
        await this.serverClose().catch(() => {});
        throw error;
      }
    })();
    await this.#listening;
    return this;
  }

  /**
   * Serves requests until `shutdown()` is called, the `signal` aborts, or `getRequest()` returns `null`. Binds first
   * unless `bindAndActivate` is `false`. Each handler error goes to `handleError()`; the loop goes on.
   *
   * @throws {ServerStateError} when already serving, closed, or not bound (with `bindAndActivate: false`)
   */
  serveForever(): Promise<void> {
    if (this.#serving) return Promise.reject(new ServerStateError("serveForever() is already running"));
    if (this.#closing !== undefined) return Promise.reject(new ServerStateError("cannot serve: the server is closed"));
    this.#serving = true;
    this.#stopRequested = false;
    const done = this.#serveLoop();
    this.#loopDone = done.then(() => {}, () => {});
    return done;
  }

  async #serveLoop(): Promise<void> {
    const signal = this.#options.signal;
    const onAbort = () => void this.shutdown();
    signal?.addEventListener("abort", onAbort);
    try {
      if (signal?.aborted) return;
      if (await this.#untilStop(this.#autoListen()) === STOP) return;
      // A handleRequest() called before may still be waiting for its request: that one is its own.
      if (await this.#untilStop(this.#turn) === STOP) return;
      while (!this.#stopRequested) {
        // Requests by callback where the socket offers them (none is being fetched, and nothing runs between requests).
        const delivery = this.#delivery;
        if (
          delivery !== undefined && this.getRequest === delivery.getRequest && this.#fetcher.pending === undefined &&
          this.serviceActions === BASE_SERVICE_ACTIONS
        ) {
          const outcome = await this.#serveDelivered(delivery);
          if (outcome === STOP || outcome === null) return;
          if (outcome !== PULL) {
            if (await this.#untilStop(outcome[0]) === STOP) return;
            continue;
          }
        }
        const entry = await this.#untilStop(this.#fetcher.next());
        if (entry === STOP) return;
        this.#fetcher.taken();
        if (entry === null) return;
        const handled = this.#handleRequestNoblock(entry[0], entry[1]);
        // Settled at once (the async mix-in): no wait to make interruptible.
        if (handled !== RESOLVED && await this.#untilStop(handled) === STOP) return;
        // The default serviceActions() does nothing: skipping it saves two promises per request.
        if (this.serviceActions !== BASE_SERVICE_ACTIONS) await this.#untilStop(this.#serviceActionsQuietly());
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#serving = false;
      this.#wakeLoop = undefined;
    }
  }

  /**
   * Serves requests as the socket delivers them, each in the runtime's callback, until a request does not finish at
   * once (the async mix-in hands each on at once; the others wait), the server stops, or the source ends. Resolves with
   * `PULL` when the delivery cannot start.
   */
  #serveDelivered(delivery: RequestDelivery<Request, ClientAddress>): Promise<DeliveryOutcome> {
    return new Promise<DeliveryOutcome>((resolve) => {
      let left = false;
      const leave = (outcome: DeliveryOutcome) => {
        if (left) return;
        left = true;
        delivery.stop();
        resolve(outcome);
      };
      // Set first: requests held in the socket are delivered at once, and their handlers may call shutdown().
      this.#wakeLoop = () => leave(STOP);
      const started = delivery.start(
        (request, clientAddress) => {
          const handled = this.#handleRequestNoblock(request, clientAddress);
          // Python's loop takes no request while one is being handled: requests wait in the socket meanwhile.
          if (handled !== RESOLVED) leave([handled]);
        },
        (error) => void this.#report(null, null, error),
        () => leave(null),
      );
      if (!started) resolve(PULL);
    });
  }

  /**
   * Handles one request: waits up to `timeout` for it (then calls `handleTimeout()`), verifies and processes it.
   * With a concurrency mix-in, returns once the request is started.
   *
   * Calls made while another waits for its request take turns: each waits until the ones before it have taken theirs
   * (or timed out), its `timeout` counting from the call, so that no two take the same request. The request taken by
   * one call is handled by that call alone.
   *
   * @throws {ServerStateError} while `serveForever()` runs (it takes every request), or when the server is closed
   */
  async handleRequest(): Promise<void> {
    this.applyOptions();
    if (this.#serving) {
      throw new ServerStateError("handleRequest() cannot run while serveForever() runs: it takes every request");
    }
    const previous = this.#turn;
    let endTurn!: () => void;
    const mine = new Promise<void>((resolve) => (endTurn = resolve));
    // Chained on the previous turn: one that ends early (a timeout) lets the next go only after those before it.
    this.#turn = previous.then(() => mine);
    let entry: RequestEntry<Request, ClientAddress> | null | typeof TIMEOUT;
    try {
      await this.#autoListen();
      const timeout = this.timeout;
      let expired = false;
      const taken = previous.then<RequestEntry<Request, ClientAddress> | null | typeof TIMEOUT>(() =>
        expired ? TIMEOUT : this.#fetcher.next()
      );
      if (timeout === null) entry = await taken;
      else {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timedOut = new Promise<typeof TIMEOUT>((resolve) => (timer = setTimeout(resolve, timeout, TIMEOUT)));
        entry = await Promise.race([taken, timedOut]).finally(() => clearTimeout(timer));
        expired = entry === TIMEOUT;
      }
      // Taken: a later call may fetch the next one (a request fetched for a call that timed out waits for it).
      if (entry !== TIMEOUT) this.#fetcher.taken();
    } finally {
      endTurn();
    }
    if (entry === TIMEOUT) {
      await this.handleTimeout();
      return;
    }
    if (entry !== null) await this.#handleRequestNoblock(entry[0], entry[1]);
  }

  /**
   * Stops `serveForever()` at once: it takes no further request and returns. Requests already taken go on (and
   * `serverClose()` waits for them). Safe to call, and to await, from inside a handler or `serviceActions()`.
   * `serveForever()` may be called again afterwards.
   *
   * @returns a promise resolved when `serveForever()` has returned
   */
  shutdown(): Promise<void> {
    this.#stopRequested = true;
    this.#wakeLoop?.(STOP);
    return this.#loopDone;
  }

  /**
   * Closes the server: stops serving, then (with `blockOnClose`) waits for requests in flight, aborting those still
   * running after `drainTimeout`. Subclasses close their socket here and call `super.serverClose()`. Idempotent: later
   * calls return the first call's promise.
   */
  serverClose(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.applyOptions();
    this.#fetcher.wake();
    await this.shutdown();
    await this.#serveLeftover();
    if (this.blockOnClose) {
      await this.#active.drain(this.drainTimeout, (request) => this.abortRequest(request), (e) => this.#lastResort(e));
    }
    try {
      this.#clientErrors?.flush();
    } catch (error) {
      this.#lastResort(error);
    }
  }

  /** A request taken by `getRequest()` while nobody was serving still gets served: none is lost at close. */
  async #serveLeftover(): Promise<void> {
    const pending = this.#fetcher.pending;
    if (pending === undefined) return;
    const entry = await Promise.race([pending, new Promise<null>((resolve) => setTimeout(resolve, 0, null))]);
    if (entry === null) return;
    this.#fetcher.taken();
    await this.#handleRequestNoblock(entry[0], entry[1]);
  }

  /** `serverClose()`, for `await using server = ...`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.serverClose();
  }

  // ---- hooks that may be overridden ----

  /** Binds the server's socket. Does nothing in `BaseServer`. */
  serverBind(): void | Promise<void> {}

  /** Starts listening. Does nothing in `BaseServer`. */
  serverActivate(): void | Promise<void> {}

  /**
   * Returns the next request and its client address, or `null` when there will be no more (the server was closed, or
   * the source ran dry): `serveForever()` then returns. Must be overridden.
   */
  getRequest(): Promise<RequestEntry<Request, ClientAddress> | null> {
    return Promise.reject(new ServerStateError(`${this.constructor.name} must override getRequest()`));
  }

  /**
   * Whether the server holds a bound socket, so that `listen()` leaves binding alone (after `serverBind()` called by
   * hand). `BaseServer` has no socket: `false`; the socket servers override it.
   */
  isBound(): boolean {
    return false;
  }

  /** Returns whether to process the request. `false` sends it to `shutdownRequest()`. Accepts all by default. */
  verifyRequest(_request: Request, _clientAddress: ClientAddress): boolean | Promise<boolean> {
    return true;
  }

  /**
   * Processes a verified request: the seam where concurrency lives. Here it runs the request to completion (see
   * {@link BaseServer.serveRequest}) before the loop takes the next one; the mix-ins start it and return.
   */
  processRequest(request: Request, clientAddress: ClientAddress): Promise<void> {
    return this.serveRequest(request, clientAddress);
  }

  /** Serves the request: constructs the handler and runs its `setup`, `handle`, `finish`. */
  finishRequest(request: Request, clientAddress: ClientAddress): Promise<void> {
    // Not `async`: one frame less held by every open connection.
    try {
      return runHandler(new this.RequestHandlerClass(request, clientAddress, this as never));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Ends a request (stream servers half-close first), then calls `closeRequest()`. */
  shutdownRequest(request: Request): void | Promise<void> {
    return this.closeRequest(request);
  }

  /** Releases a request. Does nothing in `BaseServer`. */
  closeRequest(_request: Request): void | Promise<void> {}

  /**
   * Ends a request at once, when `drainTimeout` expires during `serverClose()`. Calls `closeRequest()` by default;
   * stream servers reset the connection.
   */
  abortRequest(request: Request): void | Promise<void> {
    return this.closeRequest(request);
  }

  /**
   * Reports an error raised while serving a request (`request` and `clientAddress` are `null` when it happened before
   * a request was taken). Prints it with the client's address to stderr; the server goes on. If this throws, the error
   * is printed and the server still goes on. A failing `getRequest()` (an `accept()` out of descriptors, say) is tried
   * again after 5 ms, then twice as long each time up to 1 s, and reported once per run of failures of one kind.
   *
   * An error the client caused ({@link isClientError}: a reset, a broken pipe, a timeout, a line too long) is printed
   * in one line without its stack, at most 10 at once and then one a second; the ones left out are counted by kind
   * and summed up in one line, before the next one printed or when the server closes. A client cannot flood the log,
   * and a handler's own errors keep their stack.
   */
  handleError(_request: Request | null, clientAddress: ClientAddress | null, error: unknown): void | Promise<void> {
    const where = clientAddress === null ? "" : ` from ${describeAddress(clientAddress)}`;
    if (isClientError(error)) (this.#clientErrors ??= new ClientErrorLog()).report(`Client error${where}`, error);
    else console.error(`Exception occurred during processing of request${where}:`, error);
  }

  /** Called when `handleRequest()` waited `timeout` milliseconds for nothing. Does nothing by default. */
  handleTimeout(): void | Promise<void> {}

  /** Called by `serveForever()` after each request. Does nothing by default. */
  serviceActions(): void | Promise<void> {}

  // ---- for subclasses and mix-ins ----

  /**
   * Runs one request to its end as Python's threads do: `finishRequest()`, `handleError()` on failure, and
   * `shutdownRequest()` always. Tracked, so that `serverClose()` can wait for it. Never rejects.
   */
  serveRequest(request: Request, clientAddress: ClientAddress): Promise<void> {
    return this.#start(request, clientAddress).task;
  }

  /**
   * {@link BaseServer.serveRequest} without a promise to wait on, for mix-ins that hand each request on (async,
   * threading): a handler that ends by a call (a stream protocol) then costs its open connection no promise.
   */
  startRequest(request: Request, clientAddress: ClientAddress): void {
    this.#start(request, clientAddress);
  }

  #start(request: Request, clientAddress: ClientAddress): ActiveRequest<Request, ClientAddress> {
    const entry = new ServedRequest(this, request, clientAddress);
    this.#active.add(entry);
    entry.chain = this.#serve(entry);
    return entry;
  }

  /**
   * Resolves once fewer than `limit` requests are active. A mix-in awaits it in `processRequest()` to pause taking
   * requests at a cap.
   */
  waitForCapacity(limit: number): Promise<void> {
    return this.#active.waitForCapacity(limit);
  }

  /**
   * Copies constructor options onto the server, once, so they win over class fields and getters. Runs on first use,
   * never in the constructor, where subclass fields are not yet set.
   */
  applyOptions(): void {
    if (this.#optionsApplied) return;
    this.#optionsApplied = true;
    for (const [key, value] of Object.entries(this.#options)) {
      if (value === undefined || SETTINGS.has(key)) continue;
      Object.defineProperty(this, key, { value, writable: true, enumerable: true, configurable: true });
    }
  }

  /**
   * Not `async`: every open connection waits in here, and a promise reaction holds less than a suspended frame.
   * `undefined` when the handler ends by a call into `entry` (see {@link startHandlerThen}).
   */
  #serve(entry: ActiveRequest<Request, ClientAddress>): Promise<void> | undefined {
    if (this.finishRequest === BASE_FINISH_REQUEST) {
      // The handler's last reaction runs the bookkeeping too (entry is its sequel): one reaction less per request.
      let handler;
      try {
        handler = new this.RequestHandlerClass(entry.request, entry.clientAddress, this as never);
      } catch (error) {
        return this.#afterFailedServe(entry, error);
      }
      return startHandlerThen(handler, entry);
    }
    let finishing: Promise<void>;
    try {
      finishing = Promise.resolve(this.finishRequest(entry.request, entry.clientAddress));
    } catch (error) {
      finishing = Promise.reject(error);
    }
    return finishing.then(() => entry.handlerDone(), (error) => entry.handlerFailed(error));
  }

  #afterServe(entry: ActiveRequest<Request, ClientAddress>): Promise<void> | undefined {
    const closing = this.#shutdownQuietly(entry.request, entry.clientAddress);
    if (closing === undefined) this.#active.release(entry);
    else return closing.then(() => this.#active.release(entry));
  }

  async #afterFailedServe(entry: ActiveRequest<Request, ClientAddress>, error: unknown): Promise<void> {
    await this.#report(entry.request, entry.clientAddress, error);
    await this.#afterServe(entry);
  }

  /**
   * Verifies and processes one request. Not `async`, and returns {@link RESOLVED} itself when everything finished at
   * once (the async mix-in hands the request on without waiting): the serve loop then need not wait a turn.
   */
  #handleRequestNoblock(request: Request, clientAddress: ClientAddress): Promise<void> {
    let verdict: boolean | Promise<boolean>;
    try {
      verdict = this.verifyRequest(request, clientAddress);
    } catch (error) {
      return this.#reportAndClose(request, clientAddress, error);
    }
    if (typeof verdict !== "boolean") return this.#handleVerified(request, clientAddress, verdict);
    if (verdict) return this.#process(request, clientAddress);
    return this.#shutdownQuietly(request, clientAddress) ?? RESOLVED;
  }

  async #handleVerified(request: Request, clientAddress: ClientAddress, verdict: Promise<boolean>): Promise<void> {
    let accepted: boolean;
    try {
      accepted = await verdict;
    } catch (error) {
      return this.#reportAndClose(request, clientAddress, error);
    }
    await (accepted ? this.#process(request, clientAddress) : this.#shutdownQuietly(request, clientAddress));
  }

  #process(request: Request, clientAddress: ClientAddress): Promise<void> {
    let processing: Promise<void> | void;
    try {
      processing = this.processRequest(request, clientAddress);
    } catch (error) {
      return this.#reportAndClose(request, clientAddress, error);
    }
    if (processing === RESOLVED || processing === undefined) return RESOLVED;
    // A processRequest override failed before handing the request on: Python calls shutdown_request here.
    return Promise.resolve(processing).then(undefined, (error) => this.#reportAndClose(request, clientAddress, error));
  }

  async #reportAndClose(request: Request, clientAddress: ClientAddress, error: unknown): Promise<void> {
    await this.#report(request, clientAddress, error);
    await this.#shutdownQuietly(request, clientAddress);
  }

  /** `shutdownRequest()`, a failure reported; `undefined` when it finished at once. */
  #shutdownQuietly(request: Request, clientAddress: ClientAddress): Promise<void> | undefined {
    let closing: void | Promise<void>;
    try {
      closing = this.shutdownRequest(request);
    } catch (error) {
      return this.#report(request, clientAddress, error);
    }
    if (closing === undefined) return undefined;
    return Promise.resolve(closing).then(undefined, (error) => this.#report(request, clientAddress, error));
  }

  async #serviceActionsQuietly(): Promise<void> {
    try {
      await this.serviceActions();
    } catch (error) {
      await this.#report(null, null, error);
    }
  }

  async #report(request: Request | null, clientAddress: ClientAddress | null, error: unknown): Promise<void> {
    try {
      await this.handleError(request, clientAddress, error);
    } catch (failure) {
      this.#lastResort(failure);
    }
  }

  #lastResort(error: unknown): void {
    try {
      console.error("handleError() itself failed; the server goes on:", error);
    } catch {
      // stderr is gone; nothing else can be done.
    }
  }

  async #autoListen(): Promise<void> {
    this.applyOptions();
    if (this.#listening !== undefined || this.#options.bindAndActivate === false) {
      await this.#listening;
      return;
    }
    await this.listen();
  }

  #untilStop<T>(work: Promise<T>): Promise<T | typeof STOP> {
    if (this.#stopRequested) return Promise.resolve(STOP);
    return new Promise<T | typeof STOP>((resolve, reject) => {
      this.#wakeLoop = resolve;
      work.then(resolve, reject);
    });
  }
}

const BASE_SERVICE_ACTIONS = BaseServer.prototype.serviceActions;
const BASE_FINISH_REQUEST = BaseServer.prototype.finishRequest;

/** True when `value` can be called with `new`; `value` itself is not called. */
function isConstructor(value: unknown): boolean {
  if (typeof value !== "function") return false;
  try {
    Reflect.construct(String, [], value);
    return true;
  } catch {
    return false;
  }
}

/** A client address for a log line: a socket address as `formatAddress` writes it, anything else as a string. */
function describeAddress(address: unknown): string {
  const socketAddress = typeof address === "string" || (Array.isArray(address) && address.length === 2);
  return socketAddress ? formatAddress(address as SocketAddress) : String(address);
}
