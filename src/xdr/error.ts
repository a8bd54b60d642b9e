/**
 * `XdrError`: bytes that do not decode, or a value that does not encode, with the path of the field at fault.
 *
 * @module
 */

/**
 * Bytes that are not a valid encoding of a schema, or a value that does not fit it. The message starts with the
 * path of the field at fault, as in `args.items[3].name: string longer than 255`.
 *
 * @example Telling bad input from other failures
 * ```ts
 * import { xdr, XdrError } from "@sockserve/sockserve";
 *
 * try {
 *   xdr.decode(xdr.string(4), new Uint8Array([0, 0, 0, 9]), { path: "name" });
 * } catch (error) {
 *   if (!(error instanceof XdrError)) throw error;
 *   console.log(error.message); // "name: string longer than 4 (9)"
 * }
 * ```
 */
export class XdrError extends Error {
  /** Where in the value the fault is (`args.items[3].name`); `""` for the value itself. */
  path: string;
  /** What was wrong, without the path. */
  readonly reason: string;

  /**
   * Makes the error.
   *
   * @param reason what was wrong and what is allowed
   * @param path the field at fault (more is prepended as the error passes up through enclosing types)
   */
  constructor(reason: string, path = "") {
    super(path === "" ? reason : `${path}: ${reason}`);
    this.name = "XdrError";
    this.reason = reason;
    this.path = path;
  }

  /** Prepends a path segment (`.name`, `[3]`, or a root name) and rewrites the message; returns this error. */
  within(segment: string): this {
    const path = this.path === "" || this.path.startsWith(".") || this.path.startsWith("[")
      ? segment + this.path
      : `${segment}.${this.path}`;
    this.path = path;
    this.message = `${path}: ${this.reason}`;
    return this;
  }
}

/** Runs `body`; an {@link XdrError} from it gets `segment` prepended to its path. */
export function inField<T>(segment: string, body: () => T): T {
  try {
    return body();
  } catch (error) {
    if (error instanceof XdrError) throw error.within(segment);
    throw error;
  }
}
