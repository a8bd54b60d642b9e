/**
 * `WorkerPool`: one server on every core. N worker processes each run the ordinary async serve loop with the same
 * handler class (imported by URL, as forking children do), and the pool's primary process spreads the work:
 * - **`reusePort`** (TCP where the runtime has SO_REUSEPORT without a flag: Bun, Deno through `node:net`, Node 22.12+;
 *   UDP on Bun and Node 22.12+): each worker binds its own socket on the same port and the kernel balances new
 *   connections (or datagrams) across them. The primary binds the port first (port 0 becomes one real port) and
 *   holds no socket once the workers listen.
 * - **`handOver`** (Node 20, unix stream servers, an inherited `listenFd`): the primary listens and hands each
 *   accepted connection to a worker, round-robin (its file descriptor travels over the IPC channel, as a forking
 *   server's do); no byte passes through the primary. This costs about 110–310 µs of CPU per connection: fine for
 *   long-lived connections, a loss for connection-per-request traffic.
 * - **`single`** (UDP where no reusePort exists: Deno, Node 20): one worker, one socket.
 *
 * Workers are processes on every runtime, so a crash stays in its worker: a worker that exits by itself is replaced,
 * after 100 ms doubling up to 10 s while replacements keep dying within 5 s. `reload()` starts a new set of workers,
 * waits until they all listen, then drains the old ones. `serverClose()` drains every worker: each stops taking
 * requests and gets `drainTimeout` for those in flight, then is killed if still there.
 *
 * @module
 */
import type { RequestHandlerClass } from "../base_request_handler.ts";
import { prepareUnixPath, resolveInetAddress } from "../bind_address.ts";
import { getDefaultRuntime } from "../default_runtime.ts";
import { HandlerLoadError, ServerStateError, UnsupportedError } from "../errors.ts";
import { describeExit } from "../forking/child_pool.ts";
import { handlerLocation } from "../handler_location.ts";
import type {
  ChildExit,
  ChildProcess,
  ChildProcesses,
  DatagramSocket,
  InetAddress,
  Runtime,
  StreamListener,
  StreamSocket,
  UnixAddress,
} from "../transport.ts";
import type { FromWorker, WorkerServerKind } from "./protocol.ts";
import { type PoolSpread, settlePoolOptions, type WorkerPoolOptions } from "./options.ts";

/** One worker, as the primary sees it. */
interface Worker {
  readonly process: ChildProcess;
  readonly generation: number;
  state: "starting" | "listening" | "draining" | "gone";
  listeningAt: number;
  /** Started in place of a crashed worker: replaced in turn if it dies before it listens. */
  readonly replacement: boolean;
  readonly listening: Promise<void>;
  readonly exited: Promise<void>;
}

/** How long a worker may take from its start to `listening`. */
const START_TIMEOUT = 30_000;
/** How long past `drainTimeout` a draining worker may take to exit before it is killed. */
const EXIT_GRACE = 3_000;
/** First and last pause before a crashed worker is replaced. */
const FIRST_RESTART_DELAY = 100;
const LAST_RESTART_DELAY = 10_000;
/** A worker that served this long before it died resets the back-off. */
const STABLE_AFTER = 5_000;

/**
 * A pool of worker processes serving one address with one handler class (see the module documentation).
 *
 * @example Echo on every core
 * ```ts
 * import { StreamRequestHandler, WorkerPool } from "@sockserve/sockserve";
 *
 * // Workers import the handler by URL: exported, with its module's URL (in a real program, a module of its own).
 * export class Echo extends StreamRequestHandler {
 *   static override moduleUrl: string = import.meta.url;
 *   override async handle() {
 *     for await (const line of this.rfile) await this.wfile.write(line);
 *   }
 * }
 *
 * await using pool = await new WorkerPool(["127.0.0.1", 8000], Echo, { workers: 4 }).listen();
 * console.log(pool.spread, pool.workerPids); // "reusePort" [ 4242, 4243, 4244, 4245 ] (Node 20: "handOver")
 * await pool.serveForever(); // until serverClose(), or shutdown() from a signal handler
 * ```
 */
export class WorkerPool {
  /** The address served: port 0 resolved to the port every worker serves; for `listenFd`, the socket's address. */
  serverAddress: InetAddress | UnixAddress;
  /** The handler class every worker runs. */
  readonly RequestHandlerClass: RequestHandlerClass<never, never>;
  /** How many workers serve at a time. */
  readonly workers: number;
  /** How work is spread (settled by `listen()`). */
  spread: PoolSpread;
  /** What drains get for requests in flight, in milliseconds. */
  readonly drainTimeout: number;
  #options: WorkerPoolOptions;
  #runtime: Runtime;
  #kind: WorkerServerKind = "tcp";
  #generation = 0;
  #pool = new Set<Worker>();
  #next = 0;
  #crashes = 0;
  #listener: StreamListener | null = null;
  #boundPath: string | null = null;
  #listenedFor = false;
  #closing: Promise<void> | null = null;
  #closed!: () => void;
  #whenClosed: Promise<void> = new Promise((resolve) => (this.#closed = resolve));
  #listeningWaiters: (() => void)[] = [];
  #restartTimers = new Set<ReturnType<typeof setTimeout>>();

  /**
   * Stores the address, handler class and options; `listen()` starts the workers.
   *
   * @param serverAddress `[host, port]` (TCP, UDP) or a unix socket path; ignored with `listenFd`
   * @param RequestHandlerClass a handler class importable by URL (`static override moduleUrl = import.meta.url;`)
   * @param options see {@link WorkerPoolOptions}
   * @throws {TypeError} or {RangeError} for bad options; {HandlerLoadError} when the handler cannot be imported by URL
   */
  constructor(
    serverAddress: InetAddress | UnixAddress,
    RequestHandlerClass: RequestHandlerClass<never, never>,
    options: WorkerPoolOptions = {},
  ) {
    this.#options = options;
    this.#runtime = options.runtime ?? getDefaultRuntime();
    this.RequestHandlerClass = RequestHandlerClass;
    handlerLocation(RequestHandlerClass);
    const settled = settlePoolOptions(serverAddress, options, this.#runtime);
    this.#kind = settled.kind;
    this.serverAddress = settled.serverAddress;
    this.drainTimeout = settled.drainTimeout;
    this.spread = settled.spread;
    this.workers = settled.workers;
  }

  /** The runtime adapter in use. */
  get runtime(): Runtime {
    return this.#runtime;
  }

  /** Process ids of the workers serving now (the current set; during `reload()`, the old set until it drains). */
  get workerPids(): number[] {
    const serving = [...this.#pool].filter((worker) => worker.state === "listening");
    return serving.filter((worker) => worker.generation === this.#servingGeneration()).map((w) => w.process.pid);
  }

  /**
   * Binds (or takes the inherited socket), starts the workers and resolves once every one listens.
   *
   * @throws {AddressInUseError} when the address is taken; {HandlerLoadError} when a worker cannot load the handler;
   * {UnsupportedError} when the runtime cannot start processes
   */
  async listen(): Promise<this> {
    if (this.#listenedFor) throw new ServerStateError("listen(): the pool was started already");
    this.#listenedFor = true;
    const processes = this.#processes();
    try {
      if (this.spread === "handOver") await this.#listenInPrimary(processes);
      else await this.#reserveAddress();
      await this.#startGeneration();
    } catch (error) {
      await this.serverClose().catch(() => {});
      throw error;
    } finally {
      await this.#placeholder?.close();
      this.#placeholder = null;
    }
    return this;
  }

  #placeholder: { close(): Promise<void> } | null = null;

  /** reusePort, single: binds first, so that port 0 becomes the one port the workers join. */
  async #reserveAddress(): Promise<void> {
    const [hostname, port] = await resolveInetAddress(this.#runtime, this.serverAddress);
    const reusePort = this.spread === "reusePort";
    if (this.#kind === "udp") {
      const socket: DatagramSocket = await this.#runtime.listenDatagram({
        transport: "udp",
        hostname,
        port,
        reuseAddress: false,
        reusePort,
        maxPacketSize: 65535,
      });
      this.serverAddress = socket.address as InetAddress;
      // A single worker binds the port alone: the placeholder goes before it binds.
      if (!reusePort) await socket.close();
      else this.#placeholder = socket;
    } else {
      const listener = await this.#runtime.listenStream({
        transport: "tcp",
        hostname,
        port,
        backlog: this.#backlog(),
        reusePort: true,
      });
      this.serverAddress = listener.address as InetAddress;
      // Nobody knows the port before listen() returns, so no connection waits on this one when it closes.
      this.#placeholder = listener;
    }
  }

  /** handOver: the primary listens (through the runtime's child-process support) and hands connections on. */
  async #listenInPrimary(processes: ChildProcesses): Promise<void> {
    const backlog = this.#backlog();
    const fd = this.#options.listenFd ?? undefined;
    let listener: StreamListener;
    if (this.#kind === "unix") {
      const path = fd === undefined ? await prepareUnixPath(this.#runtime, this.serverAddress, "unix") : "";
      listener = await processes.listenStream({ transport: "unix", path, backlog, fd });
      if (fd === undefined) this.#boundPath = path;
    } else {
      const [hostname, port] = fd === undefined
        ? await resolveInetAddress(this.#runtime, this.serverAddress)
        : ["", 0] as const;
      listener = await processes.listenStream({ transport: "tcp", hostname, port, backlog, reusePort: false, fd });
    }
    this.#listener = listener;
    this.serverAddress = listener.address as InetAddress | UnixAddress;
    void this.#acceptLoop(listener, processes);
  }

  async #acceptLoop(listener: StreamListener, processes: ChildProcesses): Promise<void> {
    for (;;) {
      let socket: StreamSocket | null;
      try {
        socket = await listener.accept();
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      if (socket === null) return;
      void this.#handOver(socket, processes);
    }
  }

  /** Hands one connection to the next worker of the serving set (waiting for one while none listens). */
  async #handOver(socket: StreamSocket, processes: ChildProcesses): Promise<void> {
    try {
      const worker = await this.#pickWorker();
      if (worker === null || !(await processes.detach(socket))) return socket.abort();
      const { localAddress, remoteAddress } = socket;
      await worker.process.send({ type: "connection", localAddress, remoteAddress }, socket);
    } catch {
      // The worker died as it got the connection: that connection goes with it, as a crash takes its own.
      socket.abort();
    }
  }

  async #pickWorker(): Promise<Worker | null> {
    for (;;) {
      if (this.#closing !== null) return null;
      const generation = this.#servingGeneration();
      const serving = [...this.#pool].filter((w) => w.state === "listening" && w.generation === generation);
      if (serving.length > 0) return serving[this.#next++ % serving.length];
      await new Promise<void>((resolve) => this.#listeningWaiters.push(resolve));
    }
  }

  /** The newest generation with a listening worker (the old one serves until the new one listens). */
  #servingGeneration(): number {
    let newest = -1;
    for (const worker of this.#pool) {
      if (worker.state === "listening" && worker.generation > newest) newest = worker.generation;
    }
    return newest;
  }

  /** Starts a full set of workers of a new generation; resolves once all listen (or rejects, ending them). */
  async #startGeneration(): Promise<number> {
    const generation = ++this.#generation;
    const started = Array.from({ length: this.workers }, () => this.#startWorker(generation));
    try {
      await Promise.all(started.map((worker) => worker.listening));
    } catch (error) {
      this.#generation--;
      await Promise.all(started.map((worker) => this.#drain(worker)));
      throw error;
    }
    return generation;
  }

  #startWorker(generation: number, replacement = false): Worker {
    const processes = this.#processes();
    let listened!: () => void;
    let failed!: (error: Error) => void;
    let exited!: () => void;
    const listening = new Promise<void>((resolve, reject) => {
      listened = resolve;
      failed = reject;
    });
    listening.catch(() => {});
    const worker: Worker = {
      process: null as unknown as ChildProcess,
      generation,
      state: "starting",
      listeningAt: 0,
      replacement,
      listening,
      exited: new Promise<void>((resolve) => (exited = resolve)),
    };
    const timer = setTimeout(() => {
      failed(new ServerStateError(`a pool worker did not listen within ${START_TIMEOUT} ms`));
      worker.process.kill("SIGKILL");
    }, START_TIMEOUT);
    const start = {
      type: "start",
      kind: this.#kind,
      address: this.serverAddress,
      spread: this.spread,
      options: this.#workerOptions(),
      fields: { ...this.#options.serverFields },
    };
    const child = processes.start(
      { handler: handlerLocation(this.RequestHandlerClass), denoFlags: this.#permissions(), role: "pool" },
      {
        message: (message: unknown) => {
          const said = message as FromWorker;
          if (said.type === "ready") {
            worker.process.send(start).catch(() => {});
          } else if (said.type === "listening") {
            clearTimeout(timer);
            if (worker.state === "starting") {
              worker.state = "listening";
              worker.listeningAt = Date.now();
            }
            listened();
            for (const wake of this.#listeningWaiters.splice(0)) wake();
          } else if (said.type === "failed") {
            failed(new HandlerLoadError(said.error));
          } else if (said.type === "startFailed") {
            failed(new ServerStateError(`a pool worker could not start its server: ${said.error}`));
          }
        },
        exit: (exit: ChildExit) => {
          clearTimeout(timer);
          const wasServing = worker.state === "listening";
          const expected = worker.state === "draining" || this.#closing !== null;
          worker.state = "gone";
          this.#pool.delete(worker);
          failed(new ServerStateError(`a pool worker ${describeExit(exit)} before it listened`));
          exited();
          if (!expected && (wasServing || worker.replacement)) this.#replace(worker, exit);
          void Promise.resolve(this.handleWorkerExit(exit, expected)).catch(() => {});
        },
      },
    );
    (worker as { process: ChildProcess }).process = child;
    this.#pool.add(worker);
    return worker;
  }

  /** A worker died by itself: a new one of the same generation takes its place, after the back-off. */
  #replace(worker: Worker, _exit: ChildExit): void {
    if (Date.now() - worker.listeningAt >= STABLE_AFTER) this.#crashes = 0;
    const delay = Math.min(FIRST_RESTART_DELAY * 2 ** this.#crashes, LAST_RESTART_DELAY);
    this.#crashes++;
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer);
      // A reload may have replaced this worker's whole generation meanwhile.
      if (this.#closing !== null || worker.generation !== this.#generation) return;
      this.#startWorker(worker.generation, true);
    }, delay);
    this.#restartTimers.add(timer);
  }

  /**
   * Called after each worker exits. `expected` is `false` for a worker that died by itself (it is replaced). By
   * default reports unexpected exits on stderr.
   */
  handleWorkerExit(exit: ChildExit, expected: boolean): void | Promise<void> {
    if (!expected && this.#closing === null) {
      console.error(`pool worker ${exit.pid} ${describeExit(exit)}; replacing it`);
    }
  }

  /**
   * Zero-downtime reload: starts a new set of workers (importing the handler module afresh), waits until all of them
   * listen, then drains the old set. With `handOver`, the primary keeps the listening socket and hands new
   * connections to the new set at once: nothing is refused. With `reusePort`, closing an old worker's socket drops
   * the connections still queued on it unless `net.ipv4.tcp_migrate_req=1` (Linux 5.14+) moves them to the others.
   *
   * @throws {ServerStateError} when the pool is not listening or is closing; what stopped a new worker (the old set
   * then goes on serving)
   */
  async reload(): Promise<void> {
    if (!this.#listenedFor || this.#closing !== null) {
      throw new ServerStateError("reload(): the pool is not serving");
    }
    const old = [...this.#pool];
    await this.#startGeneration();
    await Promise.all(old.map((worker) => this.#drain(worker)));
  }

  /** Asks a worker to drain and exit; kills it if it is still there `drainTimeout` + 3 s later. */
  async #drain(worker: Worker): Promise<void> {
    if (worker.state === "gone") return;
    worker.state = "draining";
    worker.process.send({ type: "drain" }).catch(() => worker.process.kill("SIGTERM"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((
      resolve,
    ) => (timer = setTimeout(resolve, this.drainTimeout + EXIT_GRACE, "late")));
    const outcome = await Promise.race([worker.exited, late]);
    clearTimeout(timer);
    if (outcome === "late") {
      worker.process.kill("SIGKILL");
      await worker.exited;
    }
  }

  /** Resolves once the pool is closed (by `serverClose()` or `shutdown()`): the pool's serve loop is its workers'. */
  serveForever(): Promise<void> {
    return this.#whenClosed;
  }

  /** Starts closing (as `serverClose()`), for signal handlers; resolves once closed. */
  shutdown(): Promise<void> {
    return this.serverClose();
  }

  /**
   * Stops taking connections and drains every worker: each finishes its requests in flight within `drainTimeout`,
   * then is killed if still there. Removes the unix socket file the pool bound. Idempotent.
   */
  serverClose(): Promise<void> {
    this.#closing ??= (async () => {
      for (const timer of this.#restartTimers) clearTimeout(timer);
      this.#restartTimers.clear();
      for (const wake of this.#listeningWaiters.splice(0)) wake();
      await this.#listener?.close();
      this.#listener = null;
      await Promise.all([...this.#pool].map((worker) => this.#drain(worker)));
      if (this.#boundPath !== null) await this.#runtime.removeFile(this.#boundPath).catch(() => {});
      this.#closed();
    })();
    return this.#closing;
  }

  /** `await using pool = …`: closes the pool. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.serverClose();
  }

  #processes(): ChildProcesses {
    const processes = this.#runtime.childProcesses;
    if (processes === undefined) {
      throw new UnsupportedError(`the ${this.#runtime.name} runtime adapter cannot start processes: no worker pool`);
    }
    return processes;
  }

  #backlog(): number {
    const backlog = this.#options.requestQueueSize ?? 511;
    if (!Number.isInteger(backlog) || backlog < 1 || backlog > 65535) {
      throw new RangeError(`requestQueueSize must be an integer from 1 to 65535, got ${backlog}`);
    }
    return backlog;
  }

  #workerOptions(): Record<string, unknown> {
    const options = { ...this.#options.serverOptions, drainTimeout: this.drainTimeout };
    if (this.#options.requestQueueSize !== undefined && this.#kind !== "udp") {
      (options as Record<string, unknown>).requestQueueSize = this.#options.requestQueueSize;
    }
    try {
      JSON.stringify(options);
    } catch (error) {
      throw new TypeError("serverOptions of a worker pool must be JSON data", { cause: error });
    }
    return options;
  }

  #permissions(): readonly string[] {
    const flags = this.#options.workerPermissions ??
      ["--allow-net", ...(this.#kind === "udp" ? ["--unstable-net"] : [])];
    if (!Array.isArray(flags) || !flags.every((flag) => typeof flag === "string")) {
      throw new TypeError(`workerPermissions must be an array of Deno flags (strings), got ${String(flags)}`);
    }
    return flags;
  }
}
