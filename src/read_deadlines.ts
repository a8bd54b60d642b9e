/**
 * The deadlines of a read that waits for bytes (a `BufferedReader`'s): its own (`timeout`, from when it starts to
 * wait), its line's (`lineTimeout`, from the line's first byte), and the idle one (`idleTimeout`, put off by every
 * byte that arrives). A reader makes its set the first time it needs one: an idle connection holds no timer.
 *
 * @module
 */
import { SocketTimeoutError } from "./errors.ts";

/** The timers of one reader's waiting read; `expire` fails that read. */
export class ReadDeadlines {
  readonly #expire: (error: SocketTimeoutError) => void;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lineTimer: ReturnType<typeof setTimeout> | undefined;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Whether bytes came since the idle timer started. */
  #arrived = false;

  /** @param expire fails the waiting read with the deadline's error */
  constructor(expire: (error: SocketTimeoutError) => void) {
    this.#expire = expire;
  }

  /**
   * A read starts to wait: its own deadline, its line's (`lineTimeout` only when bytes of its line are here already),
   * and the idle one; `null` for those it has none of.
   */
  start(timeout: number | null, lineTimeout: number | null, idleTimeout: number | null): void {
    if (timeout !== null) this.#timer = setTimeout(() => this.#expire(new SocketTimeoutError(timeout)), timeout);
    if (lineTimeout !== null) this.#startLine(lineTimeout);
    if (idleTimeout !== null) this.#startIdle(idleTimeout);
  }

  /** Bytes came for the waiting read, not enough for it; with `lineTimeout`, they begin its line's deadline. */
  arrived(lineTimeout: number | null): void {
    this.#arrived = true;
    if (lineTimeout !== null && this.#lineTimer === undefined) this.#startLine(lineTimeout);
  }

  /** The read settled: no deadline runs. */
  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#lineTimer !== undefined) clearTimeout(this.#lineTimer);
    this.#lineTimer = undefined;
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #startLine(lineTimeout: number): void {
    this.#lineTimer = setTimeout(() => {
      this.#lineTimer = undefined;
      this.#expire(new SocketTimeoutError(lineTimeout, `line not complete ${lineTimeout} ms after its first byte`));
    }, lineTimeout);
  }

  /** One timer per wait, not per byte: when it fires after bytes came, it starts again. */
  #startIdle(idleTimeout: number): void {
    this.#arrived = false;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#arrived) this.#startIdle(idleTimeout);
      else this.#expire(new SocketTimeoutError(idleTimeout, `no byte received for ${idleTimeout} ms`));
    }, idleTimeout);
  }
}
