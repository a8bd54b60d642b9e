/**
 * Command-line pieces the example servers share.
 *
 * @module
 */

/** A bad command line: the example prints its message on one stderr line and exits 2. */
export class UsageError extends Error {}

/**
 * Reads `--requests-per-child`: a positive integer, or `Infinity` (children never retire by themselves).
 *
 * @throws {UsageError} for anything else
 */
export function parseRequestsPerChild(text: string): number {
  if (text === "Infinity") return Infinity;
  const count = /^[1-9]\d*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(count)) {
    throw new UsageError(`--requests-per-child must be a positive integer or Infinity, got ${JSON.stringify(text)}`);
  }
  return count;
}
