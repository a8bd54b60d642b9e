/**
 * One promise, resolved once and shared.
 *
 * @module
 */

/**
 * An already-resolved promise. Returned instead of a new one where nothing is left to wait for, so the serve loop can
 * see that at once and skip a turn of the event loop's promise queue.
 */
export const RESOLVED: Promise<void> = Promise.resolve();
