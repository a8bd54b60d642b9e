/**
 * The parent's side of a forking server: its child processes, started ahead of need, capped, handed one request
 * at a time, and ended at close.
 *
 * @module
 */
import { ChildProcessError, HandlerLoadError, ServerStateError } from "../errors.ts";
import type { ChildExit, ChildProcess, ChildProcesses, ChildStartOptions, StreamSocket } from "../transport.ts";
import type { FromChild, Reply, ServeMessage } from "./protocol.ts";

/** The pool's limits, read anew each time they matter, so that changing the server's fields takes effect. */
export interface ChildPoolLimits {
  /** Most child processes alive at once, spare ones included. */
  readonly maxChildren: number;
  /** Children kept started and idle, ready for the next requests. */
  readonly spareChildren: number;
  /** Requests one child serves before it exits. */
  readonly requestsPerChild: number;
}

/** What a {@link ChildPool} needs. */
export interface ChildPoolOptions {
  /** The runtime's child processes. */
  readonly processes: ChildProcesses;
  /** How to start each child. */
  readonly start: ChildStartOptions;
  /** The current limits. */
  readonly limits: () => ChildPoolLimits;
  /** The server's data fields for `this.server` in the children, sent with each child's first request. */
  readonly serverView: Readonly<Record<string, unknown>>;
  /** Called after each child exits (for `handleChildExit`). */
  readonly onExit: (exit: ChildExit) => void;
}

/** A request message before the pool numbers it. */
export type Unnumbered<M> = M extends ServeMessage ? Omit<M, "id" | "last" | "server"> : never;

/** How long idle children get to exit at close before they are killed. */
const EXIT_GRACE = 5_000;

interface Task {
  readonly id: number;
  readonly onReply: (reply: Reply) => void;
  readonly resolve: (ok: boolean) => void;
  readonly reject: (error: Error) => void;
}

type ChildState = "starting" | "ready" | "busy" | "exiting" | "gone";

/** One child process of the pool. Reserved for one request at a time by {@link ChildPool.reserve}. */
export class PooledChild {
  /** The process. */
  process!: ChildProcess;
  /** Where it is in its life. */
  state: ChildState = "starting";
  /** Promised to a request (which may not have reached it yet). */
  reserved = false;
  /** Requests it finished. */
  served = 0;
  /** Whether it got the server view already. */
  viewSent = false;
  /** Whether its current request is its last. */
  lastSent = false;
  /** The request it serves now. */
  task: Task | null = null;
  /** Why it could not load its handler, from its `failed` message. */
  loadError: HandlerLoadError | null = null;
  /** Resolves once it is ready; rejects if it dies first. */
  readonly ready: Promise<void>;
  #settle!: (error?: Error) => void;
  #exited!: () => void;
  /** Resolves once it exited. */
  readonly exited: Promise<void>;

  constructor() {
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Nobody may be waiting for a spare: its failure to start is reported through its exit, not as a rejection.
    this.ready.catch(() => {});
    this.exited = new Promise<void>((resolve) => (this.#exited = resolve));
  }

  /** Its process id. */
  get pid(): number {
    return this.process.pid;
  }

  /** Settles {@link PooledChild.ready}. */
  settleReady(error?: Error): void {
    this.#settle(error);
  }

  /** Resolves {@link PooledChild.exited}. */
  markExited(): void {
    this.state = "gone";
    this.#exited();
  }
}

/**
 * The child processes of one forking server. Children are started ahead of need (`spareChildren`), so a request
 * rarely waits for a runtime to start; each serves one request at a time, `requestsPerChild` in all, then exits.
 * `maxChildren` caps the processes alive at once: {@link ChildPool.reserve} waits at the cap until one exits (or, with
 * reuse, goes idle). Only processes this pool started are ever signalled or waited for.
 */
export class ChildPool {
  #options: ChildPoolOptions;
  #children = new Set<PooledChild>();
  #waiters: Array<() => void> = [];
  #quietWaiters: Array<() => void> = [];
  #closing = false;
  #failedStarts = 0;
  #nextId = 1;

  /** @param options see {@link ChildPoolOptions} */
  constructor(options: ChildPoolOptions) {
    this.#options = options;
  }

  /** Process ids of the children alive (starting, idle, busy or exiting). */
  get pids(): ReadonlySet<number> {
    const pids = new Set<number>();
    for (const child of this.#children) if (child.pid > 0) pids.add(child.pid);
    return pids;
  }

  /** Children alive. */
  get size(): number {
    return this.#children.size;
  }

  /**
   * Starts children until `spareChildren` are starting or idle and unpromised (within `maxChildren`). After a child
   * died before it was ready, no spare is started until one gets ready, so a handler module that cannot load does
   * not make the pool start processes in a loop: each request then starts its own child and reports its failure.
   */
  topUp(): void {
    if (this.#closing || this.#failedStarts > 0) return;
    const { maxChildren, spareChildren } = this.#options.limits();
    let spare = 0;
    for (const child of this.#children) if (this.#isFree(child)) spare++;
    while (spare < spareChildren && this.#children.size < maxChildren) {
      this.#start();
      spare++;
    }
  }

  /**
   * Promises a child to one request: an idle one, else one starting, else a new one while under `maxChildren`; at the
   * cap, waits until a child exits or goes idle. Resolves once a child is promised, not once it is ready (so the
   * server can take the next request meanwhile).
   *
   * @throws {ServerStateError} once the pool is closing
   */
  async reserve(): Promise<PooledChild> {
    for (;;) {
      if (this.#closing) throw new ServerStateError("the server is closed: no child process will take the request");
      const child = this.#pickFree() ??
        (this.#children.size < this.#options.limits().maxChildren ? this.#start() : undefined);
      if (child !== undefined) {
        child.reserved = true;
        this.topUp();
        return child;
      }
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  /** Gives back a child promised by {@link ChildPool.reserve} and not used. */
  release(child: PooledChild): void {
    if (child.task !== null || !child.reserved) return;
    child.reserved = false;
    if (this.#closing && (child.state === "ready" || child.state === "starting")) this.#retire(child);
    else this.#wake();
  }

  /**
   * Serves one request in a reserved child: waits until it is ready, sends the request (with `socket`, the connection
   * itself), and resolves when the child says `done`: `true`, or `false` when its handler failed (it was reported in
   * the child). `onReply` gets each datagram reply, in order.
   *
   * @throws {ChildProcessError} when the child dies before it finishes the request (or before it was ready)
   * @throws {HandlerLoadError} when the child could not load the handler class
   */
  async run(
    child: PooledChild,
    message: Unnumbered<ServeMessage>,
    socket: StreamSocket | undefined,
    onReply: (reply: Reply) => void,
  ): Promise<boolean> {
    await child.ready;
    if (child.state !== "ready") {
      throw new ChildProcessError(`child process ${child.pid} ended before it could take the request`, {
        pid: child.pid,
        code: null,
        signal: null,
      });
    }
    const id = this.#nextId++;
    const last = this.#closing || child.served + 1 >= this.#options.limits().requestsPerChild;
    const numbered = { ...message, id, last, ...(child.viewSent ? {} : { server: this.#options.serverView }) };
    child.viewSent = true;
    child.lastSent = last;
    child.state = "busy";
    const outcome = new Promise<boolean>((resolve, reject) => (child.task = { id, onReply, resolve, reject }));
    try {
      await child.process.send(numbered, socket);
    } catch (error) {
      // The request never reached the child. If the child is dying, its exit will remove it; otherwise it is as
      // good as before and goes back to the pool.
      if (child.task?.id === id) {
        child.task = null;
        child.lastSent = false;
        child.reserved = false;
        if (child.state === "busy") {
          if (this.#closing) this.#retire(child);
          else child.state = "ready";
        }
        this.#wake();
        this.#wakeQuiet();
      }
      throw error;
    }
    return await outcome;
  }

  /** Kills the child serving a request (for `drainTimeout` at close). */
  kill(child: PooledChild): void {
    if (child.state !== "gone") child.process.kill("SIGKILL");
  }

  /** Resolves once no child serves a request. */
  async whenQuiet(): Promise<void> {
    while (this.#busyCount() > 0) await new Promise<void>((resolve) => this.#quietWaiters.push(resolve));
  }

  /**
   * Ends the pool: idle and starting children are told to end (killed after a grace period if they do not), busy
   * ones end after their request. With `wait`, resolves once every child exited; otherwise at once, and the children
   * left no longer keep this process alive.
   */
  async close(wait: boolean): Promise<void> {
    this.#closing = true;
    this.#wake();
    for (const child of this.#children) {
      if (!child.reserved && (child.state === "ready" || child.state === "starting")) this.#retire(child);
    }
    if (!wait) {
      for (const child of this.#children) child.process.unref();
      return;
    }
    const all = () => Promise.all(Array.from(this.#children, (child) => child.exited));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(resolve, EXIT_GRACE, "late")));
    const outcome = await Promise.race([all(), late]);
    clearTimeout(timer);
    if (outcome !== "late") return;
    for (const child of this.#children) if (child.task === null) child.process.kill("SIGKILL");
    await all();
  }

  #isFree(child: PooledChild): boolean {
    return !child.reserved && (child.state === "ready" || child.state === "starting");
  }

  #pickFree(): PooledChild | undefined {
    let starting: PooledChild | undefined;
    for (const child of this.#children) {
      if (child.reserved) continue;
      if (child.state === "ready") return child;
      if (child.state === "starting") starting ??= child;
    }
    return starting;
  }

  #busyCount(): number {
    let busy = 0;
    for (const child of this.#children) if (child.task !== null) busy++;
    return busy;
  }

  #start(): PooledChild {
    const child = new PooledChild();
    this.#children.add(child);
    child.process = this.#options.processes.start(this.#options.start, {
      message: (message) => this.#onMessage(child, message as FromChild),
      exit: (exit) => this.#onExit(child, exit),
    });
    return child;
  }

  #retire(child: PooledChild): void {
    if (child.state === "starting") {
      // It may not listen to messages yet: a signal is certain, and it has served nothing.
      child.state = "exiting";
      child.process.kill("SIGTERM");
      return;
    }
    child.state = "exiting";
    child.process.send({ type: "exit" }).catch(() => {});
  }

  #onMessage(child: PooledChild, message: FromChild): void {
    switch (message.type) {
      case "ready":
        if (child.state !== "starting") return;
        child.state = "ready";
        this.#failedStarts = 0;
        child.settleReady();
        if (this.#closing && !child.reserved) this.#retire(child);
        else this.#wake();
        return;
      case "failed":
        child.loadError = new HandlerLoadError(message.error);
        return;
      case "reply":
        if (child.task?.id === message.id) child.task.onReply(message);
        return;
      case "done": {
        const task = child.task;
        if (task === null || task.id !== message.id) return;
        child.task = null;
        // A connection its client closed before the child got it was not served: the child stays for the next.
        if (!message.skipped) child.served++;
        child.reserved = false;
        if (!message.ok || (child.lastSent && !message.skipped)) child.state = "exiting"; // it exits by itself
        else if (this.#closing) this.#retire(child);
        else child.state = "ready";
        task.resolve(message.ok);
        this.#wake();
        this.#wakeQuiet();
        return;
      }
    }
  }

  #onExit(child: PooledChild, exit: ChildExit): void {
    const wasStarting = child.state === "starting";
    this.#children.delete(child);
    child.markExited();
    if (wasStarting) {
      this.#failedStarts++;
      child.settleReady(
        child.loadError ??
          new ChildProcessError(
            exit.pid === 0
              ? `a child process ${describeExit(exit)}`
              : `child process ${exit.pid} ${describeExit(exit)} before it was ready`,
            exit,
          ),
      );
    }
    const task = child.task;
    if (task !== null) {
      child.task = null;
      task.reject(
        new ChildProcessError(`child process ${exit.pid} ${describeExit(exit)} while serving the request`, exit),
      );
    }
    this.#wake();
    this.#wakeQuiet();
    try {
      this.#options.onExit(exit);
    } finally {
      this.topUp();
    }
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  #wakeQuiet(): void {
    for (const waiter of this.#quietWaiters.splice(0)) waiter();
  }
}

/** "was killed by SIGKILL", "exited with status 3", … */
export function describeExit(exit: ChildExit): string {
  if (exit.signal !== null) return `was killed by ${exit.signal}`;
  if (exit.pid === 0) {
    return exit.startError ? `could not be started (${exit.startError.message})` : "could not be started";
  }
  return `exited with status ${exit.code}`;
}
