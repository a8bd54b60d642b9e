/**
 * The main thread's side of one request served in a worker: it starts the request there, answers its messages, and
 * settles when the worker says the handler finished (or failed, or the worker died).
 *
 * @module
 */
import type { HandlerLocation } from "../handler_location.ts";
import { errorFromReport } from "./error_report.ts";
import type { FromWorker, Post, ToWorker } from "./protocol.ts";

/**
 * One request on its way through a worker. Subclasses say how the request is sent over and which messages it
 * exchanges while the handler runs.
 */
export abstract class RequestSession {
  /** The handler class the worker imports. */
  readonly handler: HandlerLocation;
  /** Settles when the handler has finished in the worker: resolved, or rejected with its error. */
  readonly outcome: Promise<void>;
  #resolve!: () => void;
  #reject!: (error: Error) => void;
  #finished = false;
  #id = 0;
  #post: Post<ToWorker> = () => {};

  /** @param handler where the worker finds the handler class */
  constructor(handler: HandlerLocation) {
    this.handler = handler;
    this.outcome = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** True once the outcome is known. */
  get finished(): boolean {
    return this.#finished;
  }

  /** The request's id on its worker's port. */
  get id(): number {
    return this.#id;
  }

  /** Starts the request in a worker. A request that cannot be sent fails at once. */
  start(id: number, post: Post<ToWorker>): void {
    this.#id = id;
    this.#post = post;
    try {
      this.begin();
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Takes a message the worker sent about this request. */
  onMessage(message: FromWorker): void {
    if (this.#finished) return;
    if (message.type === "done") this.settle(null);
    else if (message.type === "failed") this.settle(errorFromReport(message.error));
    else this.handle(message);
  }

  /** Ends the request with `error`: its worker died or was stopped. */
  fail(error: Error): void {
    this.settle(error);
  }

  /** Sends a message about this request to its worker, unless the request is over. */
  protected post(message: ToWorker, transfer?: readonly object[]): void {
    if (!this.#finished) this.#post(message, transfer);
  }

  /** Settles the outcome once; `null` means success. */
  protected settle(error: Error | null): void {
    if (this.#finished) return;
    this.#finished = true;
    this.finish();
    if (error === null) this.#resolve();
    else this.#reject(error);
  }

  /** Sends the request over to the worker (called once, with the id set). */
  protected abstract begin(): void;

  /** Handles one message while the handler runs. */
  protected handle(_message: FromWorker): void {}

  /** Releases what the session holds; called once, when the outcome is settled. */
  protected finish(): void {}
}

/**
 * A request of any other kind (a custom `BaseServer`'s): it is structured-cloned to the worker, with its client
 * address, and the handler gets the clone.
 */
export class ValueSession extends RequestSession {
  #request: unknown;
  #clientAddress: unknown;

  /**
   * @param handler where the worker finds the handler class
   * @param request the request, which must be structured-cloneable
   * @param clientAddress its client address, likewise
   */
  constructor(handler: HandlerLocation, request: unknown, clientAddress: unknown) {
    super(handler);
    this.#request = request;
    this.#clientAddress = clientAddress;
  }

  protected begin(): void {
    this.post({
      type: "value",
      id: this.id,
      handler: this.handler,
      request: this.#request,
      clientAddress: this.#clientAddress,
    });
  }
}
