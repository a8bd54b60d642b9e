/**
 * XDR (RFC 4506), usable on its own: schema builders, and `encode`/`decode` typed from the schema.
 *
 * Every length and count is checked against its declared maximum and against the bytes left before anything is
 * allocated; optional-data lists decode in a loop; errors name the field (`args.items[3].name: string longer than 255`).
 *
 * @example A struct with a bounded string and a list
 * ```ts
 * import { xdr } from "@sockserve/sockserve";
 *
 * const Item = xdr.struct({ name: xdr.string(255), count: xdr.uint() });
 * const Args = xdr.struct({ items: xdr.array(Item, 100), tag: xdr.optional(xdr.hyper()) });
 * type Args = xdr.Infer<typeof Args>; // { items: { name: string; count: number }[]; tag: bigint | null }
 *
 * const bytes = xdr.encode(Args, { items: [{ name: "a", count: 1 }], tag: null });
 * const args: Args = xdr.decode(Args, bytes, { path: "args" });
 * ```
 *
 * @module
 */
export { XdrError } from "./error.ts";
export { DEFAULT_MAX_DEPTH, XdrReader } from "./reader.ts";
export { XdrWriter } from "./writer.ts";
export type { Infer, XdrType } from "./type.ts";
export { bool, double, enumeration, float, hyper, int, uhyper, uint, voidType } from "./primitives.ts";
export {
  array,
  fixedArray,
  fixedOpaque,
  lazy,
  list,
  MAX_LENGTH,
  opaque,
  optional,
  string,
  struct,
  type StructValue,
  union,
  type UnionArms,
  type UnionValue,
} from "./composites.ts";
export { decode, type DecodeOptions, encode, type EncodeOptions } from "./codec.ts";
