/**
 * The pool of worker threads behind the threading mix-in: started on demand, reused, capped, retired when idle.
 *
 * @module
 */
import { ServerStateError, WorkerExitedError, type WorkerFaultError } from "../errors.ts";
import { siblingModuleUrl } from "../module_url.ts";
import type { Runtime } from "../transport.ts";
import { PooledWorker } from "./pooled_worker.ts";
import type { RequestSession } from "./request_session.ts";
import { WORKER_ENTRY_EXPORT } from "./worker_entry.ts";

/** The worker's entry module: `worker_entry.ts` from source, `worker_entry.js` in the compiled `dist/`. */
const WORKER_ENTRY_URL = siblingModuleUrl(import.meta.url, "worker_entry");

/** How a {@link WorkerPool} is sized and named. */
export interface WorkerPoolOptions {
  /** The adapter that starts threads. */
  readonly runtime: Runtime;
  /** Most workers at once. */
  readonly maxWorkers: number;
  /** Most requests one worker serves at once. */
  readonly maxRequestsPerWorker: number;
  /** Milliseconds an idle worker lives before it is ended. */
  readonly idleTimeout: number;
  /** What handlers in the workers see as `this.server`: plain, structured-cloneable data. */
  readonly serverView: Readonly<Record<string, unknown>>;
  /** Prefix of worker names. */
  readonly name: string;
  /** Told of each fault in a worker that no request could be blamed for (the worker goes on serving). */
  readonly onFault: (error: WorkerFaultError) => void;
}

/**
 * Worker threads serving requests. A request goes to an idle worker if there is one, else to a new worker while
 * there are fewer than `maxWorkers`, else to the least busy worker. A worker that dies is dropped (its requests fail)
 * and a new one starts with the next request.
 */
export class WorkerPool {
  #options: WorkerPoolOptions;
  #workers = new Set<PooledWorker>();
  #idleTimers = new Map<PooledWorker, ReturnType<typeof setTimeout>>();
  #started = 0;
  #state: "open" | "draining" | "closed" = "open";
  #drained: Promise<void> | undefined;
  #resolveDrained: (() => void) | undefined;

  /** @param options see {@link WorkerPoolOptions} */
  constructor(options: WorkerPoolOptions) {
    this.#options = options;
  }

  /** Workers alive now. */
  get size(): number {
    return this.#workers.size;
  }

  /** Workers started since the pool was made, replacements included. */
  get started(): number {
    return this.#started;
  }

  /** Most requests the pool serves at once: `maxWorkers × maxRequestsPerWorker`. */
  get capacity(): number {
    return this.#options.maxWorkers * this.#options.maxRequestsPerWorker;
  }

  /**
   * Serves `session` in a worker; resolves or rejects as the handler ends there.
   *
   * @throws {ServerStateError} (as a rejection) once the pool is closing
   */
  run(session: RequestSession): Promise<void> {
    if (this.#state !== "open") {
      return Promise.reject(new ServerStateError("the server is closed: the request was not started"));
    }
    let worker: PooledWorker;
    try {
      worker = this.#pick();
    } catch (error) {
      return Promise.reject(error);
    }
    const timer = this.#idleTimers.get(worker);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.#idleTimers.delete(worker);
    }
    worker.run(session);
    return session.outcome;
  }

  /**
   * Closes the pool: no request starts any more. `"now"` stops every worker at once (requests still running fail);
   * `"when-idle"` stops idle workers now and each busy one when its last request ends. Resolves when all are gone.
   */
  close(mode: "now" | "when-idle"): Promise<void> {
    if (this.#state === "closed") return Promise.resolve();
    this.#state = mode === "now" ? "closed" : "draining";
    for (const timer of this.#idleTimers.values()) clearTimeout(timer);
    this.#idleTimers.clear();
    const stopping: Promise<void>[] = [];
    for (const worker of Array.from(this.#workers)) {
      if (mode === "now" || worker.load === 0) stopping.push(this.#stop(worker, "the server was closed"));
    }
    if (mode === "now" || this.#workers.size === 0) {
      this.#state = "closed";
      return Promise.all(stopping).then(() => {});
    }
    this.#drained ??= new Promise((resolve) => (this.#resolveDrained = resolve));
    return this.#drained;
  }

  #pick(): PooledWorker {
    let leastBusy: PooledWorker | undefined;
    for (const worker of this.#workers) {
      if (worker.load === 0) return worker;
      if (leastBusy === undefined || worker.load < leastBusy.load) leastBusy = worker;
    }
    if (this.#workers.size < this.#options.maxWorkers) return this.#start();
    return leastBusy!;
  }

  #start(): PooledWorker {
    const options = this.#options;
    this.#started++;
    const worker: PooledWorker = new PooledWorker({
      runtime: options.runtime,
      moduleUrl: WORKER_ENTRY_URL,
      exportName: WORKER_ENTRY_EXPORT,
      name: `${options.name} worker ${this.#started}`,
      init: { type: "init", server: options.serverView },
      onGone: (gone) => this.#forget(gone),
      onIdle: (idle) => this.#onIdle(idle),
      onFault: options.onFault,
    });
    this.#workers.add(worker);
    return worker;
  }

  #onIdle(worker: PooledWorker): void {
    if (this.#state !== "open") {
      void this.#stop(worker, "the server was closed");
      return;
    }
    const timer = setTimeout(() => {
      this.#idleTimers.delete(worker);
      if (worker.load === 0) void this.#stop(worker, "the worker was idle");
    }, this.#options.idleTimeout);
    this.#idleTimers.set(worker, timer);
  }

  #stop(worker: PooledWorker, why: string): Promise<void> {
    return worker.terminate(new WorkerExitedError(`${worker.name} was stopped: ${why}`)).catch(() => {});
  }

  #forget(worker: PooledWorker): void {
    this.#workers.delete(worker);
    const timer = this.#idleTimers.get(worker);
    if (timer !== undefined) clearTimeout(timer);
    this.#idleTimers.delete(worker);
    if (this.#state === "draining" && this.#workers.size === 0) {
      this.#state = "closed";
      this.#resolveDrained?.();
    }
  }
}
