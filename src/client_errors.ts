/**
 * Errors a client causes (a reset, a broken pipe, a timeout, a line too long), told apart from a handler's own, and
 * reported briefly: one line each, at a bounded rate, with a count of what was left out.
 *
 * @module
 */

/** Error codes (Node, Bun, and Deno's `code`) of failures that a client or the network between causes. */
const CLIENT_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "EPIPE",
  "ECONNABORTED",
  "ETIMEDOUT",
  "ENOTCONN",
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

/** Error names of the same failures (Deno's error classes) and of this library's errors that a client causes. */
const CLIENT_NAMES: ReadonlySet<string> = new Set([
  "ConnectionReset",
  "BrokenPipe",
  "ConnectionAborted",
  "NotConnected",
  "TimedOut",
  "ConnectionRefused",
  "SocketTimeoutError",
  "LineTooLongError",
  "DatagramTooLargeError",
  "NoClientAddressError",
  "ConnectionLimitError",
]);

/**
 * True when `error` is one a client causes rather than the server's code: a reset or aborted connection, a broken
 * pipe, a network timeout, a refused or unreachable datagram reply, a read that timed out
 * (`SocketTimeoutError`), a line or datagram over its limit (`LineTooLongError`, `DatagramTooLargeError`), a reply to
 * a unix datagram client without an address (`NoClientAddressError`). `handleError()`'s default reports these in one
 * line without a stack, at a bounded rate.
 *
 * @example A handleError() that drops what clients cause and keeps the rest
 * ```ts
 * import { isClientError, StreamRequestHandler, TCPServer } from "@sockserve/sockserve";
 *
 * class QuietServer extends TCPServer {
 *   override handleError(request: unknown, clientAddress: unknown, error: unknown): void {
 *     if (!isClientError(error)) super.handleError(request as never, clientAddress as never, error);
 *   }
 * }
 * const server = new QuietServer(["127.0.0.1", 0], StreamRequestHandler);
 * ```
 */
export function isClientError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, name } = error as { code?: unknown; name?: unknown };
  return (typeof code === "string" && CLIENT_CODES.has(code)) || (typeof name === "string" && CLIENT_NAMES.has(name));
}

/** What kind of client error `error` is, for counting: its code, or its name. */
function kindOf(error: unknown): string {
  const { code, name } = error as { code?: unknown; name?: unknown };
  return typeof code === "string" ? code : String(name);
}

/** `error` in one line: its name, code and message, newlines folded. */
export function describeBriefly(error: unknown): string {
  const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown };
  const label = typeof code === "string" && !String(message).includes(code)
    ? `${String(name)} [${code}]`
    : String(name);
  return `${label}: ${String(message)}`.replace(/\s*\n\s*/g, " ");
}

/** Lines written at once before the rate limit applies. */
const BURST = 10;
/** Milliseconds after which one more line may be written, once the burst is spent. */
const INTERVAL = 1000;

/**
 * Writes one line per client error, at most {@link BURST} at once and then one per second; what it leaves out it
 * counts by kind and summarizes in one line, written before the next line it writes (or by {@link flush}).
 */
export class ClientErrorLog {
  #tokens = BURST;
  #refilledAt: number;
  #dropped = new Map<string, number>();
  #droppedTotal = 0;
  #droppedSince = 0;
  #write: (line: string) => void;
  #now: () => number;

  /**
   * @param write writes one line (by default to `console.error`)
   * @param now the clock, in milliseconds
   */
  constructor(write: (line: string) => void = (line) => console.error(line), now: () => number = Date.now) {
    this.#write = write;
    this.#now = now;
    this.#refilledAt = now();
  }

  /** Reports `error` with `prefix` (such as `Client error from 127.0.0.1:4000`), or counts it when over the rate. */
  report(prefix: string, error: unknown): void {
    const now = this.#now();
    const earned = Math.floor((now - this.#refilledAt) / INTERVAL);
    if (earned > 0) {
      this.#tokens = Math.min(BURST, this.#tokens + earned);
      this.#refilledAt = this.#tokens === BURST ? now : this.#refilledAt + earned * INTERVAL;
    }
    if (this.#tokens === 0) {
      if (this.#droppedTotal === 0) this.#droppedSince = now;
      this.#droppedTotal++;
      const kind = kindOf(error);
      this.#dropped.set(kind, (this.#dropped.get(kind) ?? 0) + 1);
      return;
    }
    this.#tokens--;
    this.flush();
    this.#write(`${prefix}: ${describeBriefly(error)}`);
  }

  /** Writes the summary of what was left out, if anything was. */
  flush(): void {
    if (this.#droppedTotal === 0) return;
    const kinds = Array.from(this.#dropped).sort((a, b) => b[1] - a[1]).map(([kind, count]) => `${kind} ×${count}`);
    const seconds = ((this.#now() - this.#droppedSince) / 1000).toFixed(1);
    const total = this.#droppedTotal;
    this.#dropped.clear();
    this.#droppedTotal = 0;
    this.#write(`${total} more client errors not reported one by one (over ${seconds} s): ${kinds.join(", ")}`);
  }
}
