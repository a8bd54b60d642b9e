/**
 * One worker thread of a pool, seen from the main thread: its channel, the requests it is serving, and its end.
 *
 * @module
 */
import { WorkerExitedError, WorkerFaultError } from "../errors.ts";
import type { MessagePortLike, Runtime, WorkerHandle } from "../transport.ts";
import { errorFromReport } from "./error_report.ts";
import type { FromWorker, ToWorker } from "./protocol.ts";
import type { RequestSession } from "./request_session.ts";

interface MessageChannelLike {
  readonly port1: MessagePortLike;
  readonly port2: MessagePortLike;
}

/** What a pooled worker needs from its pool. */
export interface PooledWorkerOptions {
  /** The adapter that starts the thread. */
  readonly runtime: Runtime;
  /** URL of the worker's entry module. */
  readonly moduleUrl: string;
  /** The entry function it exports. */
  readonly exportName: string;
  /** For debuggers and error messages. */
  readonly name: string;
  /** The first message, sent before any request (the server view). */
  readonly init: ToWorker;
  /** Called once when the worker is gone (crashed, exited, retired or stopped). */
  readonly onGone: (worker: PooledWorker) => void;
  /** Called whenever the worker has no request left. */
  readonly onIdle: (worker: PooledWorker) => void;
  /** Called with each fault in the worker that no request could be blamed for (the worker goes on). */
  readonly onFault: (error: WorkerFaultError) => void;
}

/**
 * A worker serving requests multiplexed on one `MessagePort`. When the thread dies, every request it was serving
 * fails with {@link WorkerExitedError} (whose `cause` is the worker's error) and the pool is told.
 */
export class PooledWorker {
  /** The worker's name. */
  readonly name: string;
  #port: MessagePortLike;
  #handle: WorkerHandle;
  #sessions = new Map<number, RequestSession>();
  #nextId = 1;
  #gone = false;
  #onGone: (worker: PooledWorker) => void;
  #onIdle: (worker: PooledWorker) => void;
  #onFault: (error: WorkerFaultError) => void;
  #post: (message: ToWorker, transfer?: readonly object[]) => void;

  /**
   * Starts the thread.
   *
   * @throws {Error} when the runtime cannot start it
   */
  constructor(options: PooledWorkerOptions) {
    const startWorker = options.runtime.startWorker;
    if (startWorker === undefined) throw new Error(`the ${options.runtime.name} runtime adapter cannot start workers`);
    const Channel = (globalThis as unknown as { MessageChannel: new () => MessageChannelLike }).MessageChannel;
    const { port1, port2 } = new Channel();
    this.name = options.name;
    this.#port = port1;
    this.#onGone = options.onGone;
    this.#onIdle = options.onIdle;
    this.#onFault = options.onFault;
    this.#post = (message, transfer) => port1.postMessage(message, transfer);
    port1.onmessage = (event) => this.#onMessage(event.data as FromWorker);
    try {
      this.#handle = startWorker.call(options.runtime, {
        moduleUrl: options.moduleUrl,
        exportName: options.exportName,
        port: port2,
        name: options.name,
        onExit: (reason) => this.#die(new WorkerExitedError(`${this.name} died: ${reason.message}`, { cause: reason })),
      });
    } catch (error) {
      port1.close();
      throw error;
    }
    this.#post(options.init);
  }

  /** Requests this worker is serving. */
  get load(): number {
    return this.#sessions.size;
  }

  /** True once the thread is gone. */
  get gone(): boolean {
    return this.#gone;
  }

  /** Starts `session` in this worker. */
  run(session: RequestSession): void {
    if (this.#gone) {
      session.fail(new WorkerExitedError(`${this.name} is gone`));
      return;
    }
    const id = this.#nextId++;
    this.#sessions.set(id, session);
    const release = () => {
      this.#sessions.delete(id);
      if (this.#sessions.size === 0 && !this.#gone) this.#onIdle(this);
    };
    session.outcome.then(release, release);
    session.start(id, this.#post);
  }

  /** Stops the thread at once; requests still running fail with `reason`. */
  async terminate(reason: Error): Promise<void> {
    if (this.#gone) return;
    this.#die(reason);
    await this.#handle.terminate();
  }

  #onMessage(message: FromWorker): void {
    if (message.type === "fault") {
      const cause = errorFromReport(message.error);
      const what = message.kind === "error" ? "an uncaught error" : "an unhandled rejection";
      this.#onFault(
        new WorkerFaultError(`${this.name}: ${what} no request could be blamed for: ${cause.message}`, message.kind, {
          cause,
        }),
      );
      return;
    }
    this.#sessions.get(message.id)?.onMessage(message);
  }

  #die(reason: Error): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#port.onmessage = null;
    this.#port.close();
    const sessions = Array.from(this.#sessions.values());
    this.#sessions.clear();
    for (const session of sessions) session.fail(reason);
    this.#onGone(this);
  }
}
