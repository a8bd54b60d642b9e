/**
 * The default report of failed handshakes: clients cause them (scanners, expired certificates, a wrong CA), so each
 * is one line without a stack, and a flood of them is cut to a few lines and a count.
 *
 * @module
 */
import { formatAddress } from "../address.ts";
import type { SocketAddress } from "../transport.ts";

/** Lines written per window before the rest are only counted. */
const LINES_PER_WINDOW = 10;
/** The window, in ms. */
const WINDOW = 10_000;

/** Writes one line per failure, at most {@link LINES_PER_WINDOW} per 10 s, then how many were left out. */
export class FailureLog {
  #windowStart = 0;
  #written = 0;
  #dropped = 0;
  readonly #write: (line: string) => void;

  /** @param write where lines go (default: `console.error`) */
  constructor(write: (line: string) => void = (line) => console.error(line)) {
    this.#write = write;
  }

  /** Reports one failed handshake. */
  report(error: unknown, clientAddress: SocketAddress | null): void {
    const now = Date.now();
    if (now - this.#windowStart >= WINDOW) {
      if (this.#dropped > 0) this.#write(`(${this.#dropped} more failed TLS handshakes not shown)`);
      this.#windowStart = now;
      this.#written = 0;
      this.#dropped = 0;
    }
    if (this.#written >= LINES_PER_WINDOW) {
      this.#dropped++;
      return;
    }
    this.#written++;
    const from = clientAddress === null || clientAddress === "" ? "" : ` from ${formatAddress(clientAddress)}`;
    const message = error instanceof Error ? error.message : String(error);
    try {
      this.#write(`TLS handshake${from} failed: ${message.split("\n")[0]}`);
    } catch {
      // stderr is gone: nothing to tell.
    }
  }
}
