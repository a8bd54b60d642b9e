/**
 * The requests a server is serving: tracked so that `serverClose()` can wait for them (and abort them after
 * `drainTimeout`), a concurrency cap can wait for a free slot, and `activeRequests` can count them.
 *
 * @module
 */
import type { HandlerSequel } from "./base_request_handler.ts";
import { RESOLVED } from "./resolved.ts";

const TIMEOUT: unique symbol = Symbol("timeout");

/**
 * A request being served, and the sequel of its handler (what the server runs when the handler is done). The server
 * subclasses it with its own bookkeeping.
 */
export abstract class TrackedRequest<Request, ClientAddress> implements HandlerSequel<void> {
  readonly request: Request;
  readonly clientAddress: ClientAddress;
  /** The promise chain the handler's life runs in, or `undefined` when it ends by a call (a callback `handle()`). */
  chain: Promise<void> | undefined = undefined;
  #released = false;
  #task: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(request: Request, clientAddress: ClientAddress) {
    this.request = request;
    this.clientAddress = clientAddress;
  }

  /**
   * Settles once the request is released: its chain, or a promise made on first use when the handler ends by a call
   * (an open protocol connection then holds no promise until something waits for it).
   */
  get task(): Promise<void> {
    if (this.chain !== undefined) return this.chain;
    if (this.#released) return RESOLVED;
    return this.#task ??= new Promise((resolve) => (this.#wake = resolve));
  }

  /** Called by {@link ActiveRequests.release}. */
  released(): void {
    this.#released = true;
    this.#wake?.();
  }

  abstract handlerDone(): void | Promise<void>;
  abstract handlerFailed(error: unknown): void | Promise<void>;
}

/** The requests being served by one server. */
export class ActiveRequests<Entry extends TrackedRequest<unknown, unknown>> {
  #active = new Set<Entry>();
  #slotWaiters: Array<() => void> = [];

  /** How many are being served. */
  get size(): number {
    return this.#active.size;
  }

  /** Tracks a request from now until {@link ActiveRequests.release}. */
  add(entry: Entry): void {
    this.#active.add(entry);
  }

  /** The request is over: its task settles, and one waiter for a free slot goes on. */
  release(entry: Entry): void {
    this.#active.delete(entry);
    entry.released();
    this.#slotWaiters.shift()?.();
  }

  /** Resolves once fewer than `limit` requests are active. */
  async waitForCapacity(limit: number): Promise<void> {
    while (this.#active.size >= limit) await new Promise<void>((resolve) => this.#slotWaiters.push(resolve));
  }

  /**
   * Waits for every request to be released; after `timeout` ms (`null`: never), calls `abort` on each one still
   * active, one after the other, and `failed` with what an abort threw.
   */
  async drain(
    timeout: number | null,
    abort: (request: Entry["request"]) => void | Promise<void>,
    failed: (error: unknown) => void,
  ): Promise<void> {
    if (this.#active.size === 0) return;
    const all = Promise.all(Array.from(this.#active, (entry) => entry.task));
    if (timeout === null) {
      await all;
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<typeof TIMEOUT>((resolve) => (timer = setTimeout(resolve, timeout, TIMEOUT)));
    const outcome = await Promise.race([all, expired]);
    clearTimeout(timer);
    if (outcome !== TIMEOUT) return;
    for (const { request } of Array.from(this.#active)) {
      try {
        await abort(request);
      } catch (error) {
        failed(error);
      }
    }
  }
}
