/**
 * How the serve loop retries a failed `getRequest()` (an `accept()` that failed): exponential back-off, and one report
 * per episode of failures. Adapters skip the accept errors that concern one connection (a reset before it was
 * accepted); what reaches the loop concerns the server: out of descriptors (EMFILE, ENFILE), of buffers (ENOBUFS), of
 * memory (ENOMEM), where retrying at once cannot succeed and would fail for every connection in the backlog.
 *
 * @module
 */

/** The first pause after a failure, in milliseconds. */
export const FIRST_RETRY_DELAY = 5;
/** The longest pause between two tries, in milliseconds. */
export const LAST_RETRY_DELAY = 1000;

/** The pause before try number `failures + 1`: 5, 10, 20, … ms, at most {@link LAST_RETRY_DELAY}. */
export function retryDelay(failures: number): number {
  return Math.min(FIRST_RETRY_DELAY * 2 ** Math.min(failures - 1, 30), LAST_RETRY_DELAY);
}

/**
 * What makes two failures "the same" for reporting: their `code`, or else their class and message. A failure like the
 * one before it in the same episode is not reported again.
 */
export function failureKind(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string") return code;
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
