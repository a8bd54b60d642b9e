/**
 * `XdrType`: what every schema builder makes, and `Infer` of the value type it encodes.
 *
 * @module
 */
import type { XdrReader } from "./reader.ts";
import type { XdrWriter } from "./writer.ts";

/**
 * A schema: encodes values of type `T` and decodes them back. Made by the builders of the `xdr` namespace
 * (`xdr.int()`, `xdr.struct({...})` …); use it with `xdr.encode` and `xdr.decode`.
 */
export interface XdrType<T> {
  /** The XDR declaration this type stands for, for messages (`int`, `string<255>`, `struct {...}`). */
  readonly description: string;
  /** Fewest bytes an encoding takes: a count of elements is checked against the bytes left with it. */
  readonly minSize: number;
  /** Writes `value`; throws `XdrError` (naming the field) when it does not fit the type. */
  write(writer: XdrWriter, value: T): void;
  /** Reads one value; throws `XdrError` (naming the field) when the bytes do not decode. */
  read(reader: XdrReader): T;
}

/**
 * The value type of a schema.
 *
 * @example
 * ```ts
 * import { xdr } from "@sockserve/sockserve";
 *
 * const IntPair = xdr.struct({ a: xdr.int(), b: xdr.int() });
 * type IntPair = xdr.Infer<typeof IntPair>; // { a: number; b: number }
 * ```
 */
// deno-lint-ignore no-explicit-any
export type Infer<S> = S extends XdrType<infer T> ? T : S extends { read(reader: any): infer T } ? T : never;
