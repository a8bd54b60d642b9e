/**
 * The request a server is fetching with `getRequest()`, kept across waits, and retried after a failure.
 *
 * @module
 */
import { ServerStateError } from "./errors.ts";
import { failureKind, retryDelay } from "./retry_backoff.ts";

/** How a {@link RequestFetcher} reaches its server. */
export interface FetcherHooks<Entry> {
  /** The server's `getRequest()`, looked up at each call (a subclass may override it). */
  getRequest(): Entry | null | Promise<Entry | null>;
  /** True once the server closes: a failed fetch is no longer retried. */
  isClosing(): boolean;
  /** Reports a failure through the server's `handleError()`. */
  report(error: unknown): Promise<void>;
}

/**
 * One fetch at a time: the request being fetched stays pending across a `shutdown()` or a timeout until someone takes
 * it (`taken()`), so that no accepted request is lost. A failed `getRequest()` is retried until it succeeds or the
 * server closes.
 */
export class RequestFetcher<Entry> {
  readonly #hooks: FetcherHooks<Entry>;
  #pending: Promise<Entry | null> | undefined;
  // Ends the pause of a retry early, at close.
  #wakeRetry: (() => void) | undefined;

  /** A fetcher for the server behind `hooks`. */
  constructor(hooks: FetcherHooks<Entry>) {
    this.#hooks = hooks;
  }

  /** The fetch in progress or done and not taken yet, if any. */
  get pending(): Promise<Entry | null> | undefined {
    return this.#pending;
  }

  /** The request being fetched, or a new fetch. */
  next(): Promise<Entry | null> {
    return this.#pending ??= this.#fetch();
  }

  /** The pending request was taken: the next `next()` fetches another. */
  taken(): void {
    this.#pending = undefined;
  }

  /** Ends a retry's pause now (the server is closing). */
  wake(): void {
    this.#wakeRetry?.();
  }

  #fetch(): Promise<Entry | null> {
    let fetching: Promise<Entry | null>;
    try {
      fetching = Promise.resolve(this.#hooks.getRequest());
    } catch (error) {
      fetching = Promise.reject(error);
    }
    return fetching.then(undefined, (error) => this.#fetchAgain(error));
  }

  /**
   * Retries a failed `getRequest()` until it succeeds (ending the episode) or the server closes: after 5 ms, then twice
   * as long each time up to 1 s, so that a server out of descriptors (EMFILE) neither spins nor floods its log. Each
   * failure is reported unless it is of the same kind as the one before it in the episode.
   */
  async #fetchAgain(error: unknown): Promise<Entry | null> {
    const hooks = this.#hooks;
    let reportedKind: string | undefined;
    for (let failures = 1;; failures++) {
      if (hooks.isClosing()) return null;
      // Not bound (bindAndActivate: false and no listen()): no retry can cure that.
      if (error instanceof ServerStateError) {
        this.#pending = undefined;
        throw error;
      }
      const kind = failureKind(error);
      if (kind !== reportedKind) {
        reportedKind = kind;
        await hooks.report(error);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, retryDelay(failures));
        this.#wakeRetry = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wakeRetry = undefined;
      if (hooks.isClosing()) return null;
      try {
        return await hooks.getRequest();
      } catch (failure) {
        error = failure;
      }
    }
  }
}
