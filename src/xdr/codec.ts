/**
 * `encode` and `decode`: a value to bytes and back, through a schema.
 *
 * @module
 */
import { XdrError } from "./error.ts";
import { XdrReader } from "./reader.ts";
import type { XdrType } from "./type.ts";
import { XdrWriter } from "./writer.ts";

/** Options of {@link encode}. */
export interface EncodeOptions {
  /** Name of the value in error messages (`args` gives `args.items[3].name: …`). Default: none. */
  path?: string;
}

/** Options of {@link decode}. */
export interface DecodeOptions {
  /** Name of the value in error messages (`args` gives `args.items[3].name: …`). Default: none. */
  path?: string;
  /** Accept bytes left over after the value (default `false`: they are an error). */
  allowTrailing?: boolean;
  /** Deepest nesting of recursive types (default 200). */
  maxDepth?: number;
}

function named(error: unknown, path: string | undefined): unknown {
  return error instanceof XdrError && path !== undefined && path !== "" ? error.within(path) : error;
}

/**
 * Encodes `value` as `type` says.
 *
 * @throws {XdrError} naming the field when the value does not fit the type
 *
 * @example
 * ```ts
 * import { xdr } from "@sockserve/sockserve";
 *
 * xdr.encode(xdr.string(255), "hi"); // 00000002 68690000
 * ```
 */
export function encode<T>(type: XdrType<T>, value: T, options?: EncodeOptions): Uint8Array {
  const writer = new XdrWriter(Math.max(16, type.minSize));
  try {
    type.write(writer, value);
  } catch (error) {
    throw named(error, options?.path);
  }
  return writer.bytes();
}

/**
 * Decodes one value of `type` from `bytes`, which must hold it exactly (unless `allowTrailing`).
 *
 * @throws {XdrError} naming the field when the bytes are not an encoding of the type
 *
 * @example
 * ```ts
 * import { xdr } from "@sockserve/sockserve";
 *
 * const IntPair = xdr.struct({ a: xdr.int(), b: xdr.int() });
 * const { a, b } = xdr.decode(IntPair, new Uint8Array([0, 0, 0, 2, 0, 0, 0, 40])); // 2, 40
 * ```
 */
export function decode<T>(type: XdrType<T>, bytes: Uint8Array, options?: DecodeOptions): T {
  const reader = new XdrReader(bytes);
  if (options?.maxDepth !== undefined) reader.maxDepth = options.maxDepth;
  let value: T;
  try {
    value = type.read(reader);
  } catch (error) {
    throw named(error, options?.path);
  }
  if (reader.remaining > 0 && options?.allowTrailing !== true) {
    throw named(new XdrError(`${reader.remaining} bytes left over after ${type.description}`), options?.path);
  }
  return value;
}
