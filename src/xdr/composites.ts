/**
 * The XDR composite types: fixed and variable opaque, string, fixed and variable arrays, struct, discriminated union,
 * optional data, optional-data lists, and recursive types.
 *
 * @module
 */
import { XdrError } from "./error.ts";
import { notA } from "./primitives.ts";
import { DEFAULT_MAX_DEPTH, type XdrReader } from "./reader.ts";
import type { Infer, XdrType } from "./type.ts";
import type { XdrWriter } from "./writer.ts";

/** The largest length or count XDR can carry (`<>` with no maximum). */
export const MAX_LENGTH = 0xffff_ffff;

function checkMax(max: number, what: string): void {
  if (!Number.isInteger(max) || max < 0 || max > MAX_LENGTH) {
    throw new RangeError(`${what} maximum must be an integer 0..2^32-1, got ${max}`);
  }
}

const padded = (count: number): number => count + ((4 - (count & 3)) & 3);
const bound = (max: number): string => (max === MAX_LENGTH ? "" : String(max));

/** Wraps an element's error with its index. */
function at(index: number, error: unknown): unknown {
  return error instanceof XdrError ? error.within(`[${index}]`) : error;
}

/** `opaque[n]`: exactly `length` bytes (then padding), as a Uint8Array. */
export function fixedOpaque(length: number): XdrType<Uint8Array> {
  checkMax(length, "fixed opaque");
  return {
    description: `opaque[${length}]`,
    minSize: padded(length),
    write(writer: XdrWriter, value: Uint8Array): void {
      if (!(value instanceof Uint8Array)) throw notA(`a Uint8Array of ${length} bytes`, value);
      if (value.length !== length) throw new XdrError(`opaque[${length}] needs ${length} bytes, got ${value.length}`);
      writer.opaque(value);
    },
    read(reader: XdrReader): Uint8Array {
      return reader.opaque(length);
    },
  };
}

/** `opaque<max>`: a length, then that many bytes (then padding). Decoded as a view into the input. */
export function opaque(max: number = MAX_LENGTH): XdrType<Uint8Array> {
  checkMax(max, "opaque");
  return {
    description: `opaque<${bound(max)}>`,
    minSize: 4,
    write(writer: XdrWriter, value: Uint8Array): void {
      if (!(value instanceof Uint8Array)) throw notA("a Uint8Array", value);
      if (value.length > max) throw new XdrError(`opaque longer than ${max} (${value.length})`);
      writer.uint32(value.length);
      writer.opaque(value);
    },
    read(reader: XdrReader): Uint8Array {
      const length = reader.uint32();
      if (length > max) throw new XdrError(`opaque longer than ${max} (${length})`);
      return reader.opaque(length);
    },
  };
}

/**
 * `string<max>`: a length, then that many bytes of text (then padding). `max` counts UTF-8 bytes, not characters;
 * decoding replaces invalid UTF-8 with U+FFFD.
 */
export function string(max: number = MAX_LENGTH): XdrType<string> {
  checkMax(max, "string");
  return {
    description: `string<${bound(max)}>`,
    minSize: 4,
    write(writer: XdrWriter, value: string): void {
      if (typeof value !== "string") throw notA("a string", value);
      const start = writer.length;
      const length = writer.text(value);
      if (length > max) {
        writer.truncate(start);
        throw new XdrError(`string longer than ${max} (${length} bytes)`);
      }
    },
    read(reader: XdrReader): string {
      const length = reader.uint32();
      if (length > max) throw new XdrError(`string longer than ${max} (${length})`);
      return reader.text(length);
    },
  };
}

/** Throws when an element type takes no bytes: a count of them could not be checked against the bytes left. */
function checkElement(element: XdrType<unknown>, what: string): void {
  if (element.minSize === 0) {
    throw new TypeError(`${what} of ${element.description}: elements must take at least 4 bytes on the wire`);
  }
}

function readElements<T>(reader: XdrReader, element: XdrType<T>, count: number): T[] {
  const size = element.minSize;
  if (count * size > reader.remaining) {
    throw new XdrError(
      `array of ${count} elements needs at least ${count * size} bytes, but only ${reader.remaining} are left`,
    );
  }
  const out: T[] = new Array(count);
  for (let i = 0; i < count; i++) {
    try {
      out[i] = element.read(reader);
    } catch (error) {
      throw at(i, error);
    }
  }
  return out;
}

function writeElements<T>(writer: XdrWriter, element: XdrType<T>, values: readonly T[]): void {
  for (let i = 0; i < values.length; i++) {
    try {
      element.write(writer, values[i]);
    } catch (error) {
      throw at(i, error);
    }
  }
}

/** `T[n]`: exactly `length` elements, with no count on the wire. */
export function fixedArray<T>(element: XdrType<T>, length: number): XdrType<T[]> {
  checkMax(length, "fixed array");
  checkElement(element, "fixed array");
  return {
    description: `${element.description}[${length}]`,
    minSize: element.minSize * length,
    write(writer: XdrWriter, value: T[]): void {
      if (!Array.isArray(value)) throw notA(`an array of ${length}`, value);
      if (value.length !== length) throw new XdrError(`array[${length}] needs ${length} elements, got ${value.length}`);
      writeElements(writer, element, value);
    },
    read(reader: XdrReader): T[] {
      return readElements(reader, element, length);
    },
  };
}

/** `T<max>`: a count, then that many elements. The count is checked against `max` and the bytes left first. */
export function array<T>(element: XdrType<T>, max: number = MAX_LENGTH): XdrType<T[]> {
  checkMax(max, "array");
  checkElement(element, "array");
  return {
    description: `${element.description}<${bound(max)}>`,
    minSize: 4,
    write(writer: XdrWriter, value: T[]): void {
      if (!Array.isArray(value)) throw notA("an array", value);
      if (value.length > max) throw new XdrError(`array longer than ${max} (${value.length})`);
      writer.uint32(value.length);
      writeElements(writer, element, value);
    },
    read(reader: XdrReader): T[] {
      const count = reader.uint32();
      if (count > max) throw new XdrError(`array longer than ${max} (${count})`);
      return readElements(reader, element, count);
    },
  };
}

/** The value type of a struct with these fields. */
// deno-lint-ignore no-explicit-any
export type StructValue<F extends Readonly<Record<string, XdrType<any>>>> = { -readonly [K in keyof F]: Infer<F[K]> };

/**
 * `struct`: the fields in the order the object lists them, with no tags. Field names must not look like array
 * indices (JavaScript would reorder them).
 *
 * @example `struct intpair { int a; int b; };`
 * ```ts
 * import { xdr } from "@sockserve/sockserve";
 *
 * const IntPair = xdr.struct({ a: xdr.int(), b: xdr.int() });
 * const pair = xdr.decode(IntPair, xdr.encode(IntPair, { a: 2, b: 40 })); // { a: 2, b: 40 }
 * ```
 */
// deno-lint-ignore no-explicit-any
export function struct<const F extends Readonly<Record<string, XdrType<any>>>>(fields: F): XdrType<StructValue<F>> {
  const names = Object.keys(fields);
  for (const name of names) {
    if (/^(0|[1-9]\d*)$/.test(name)) throw new TypeError(`struct field name ${name} looks like an index: rename it`);
    if (name === "__proto__") throw new TypeError("struct field name __proto__ is not allowed");
  }
  const types = names.map((name) => fields[name]);
  const segments = names.map((name) => `.${name}`);
  let minSize = 0;
  for (const type of types) minSize += type.minSize;
  return {
    description: `struct { ${names.map((n, i) => `${types[i].description} ${n};`).join(" ")} }`,
    minSize,
    write(writer: XdrWriter, value: StructValue<F>): void {
      if (value === null || typeof value !== "object") throw notA("an object", value);
      const record = value as Record<string, unknown>;
      for (let i = 0; i < names.length; i++) {
        try {
          types[i].write(writer, record[names[i]]);
        } catch (error) {
          throw error instanceof XdrError ? error.within(segments[i]) : error;
        }
      }
    },
    read(reader: XdrReader): StructValue<F> {
      const out: Record<string, unknown> = {};
      for (let i = 0; i < names.length; i++) {
        try {
          out[names[i]] = types[i].read(reader);
        } catch (error) {
          throw error instanceof XdrError ? error.within(segments[i]) : error;
        }
      }
      return out as StructValue<F>;
    },
  };
}

/** The arms of a union: discriminant value → the type of that arm. */
// deno-lint-ignore no-explicit-any
export type UnionArms = Readonly<Record<number, XdrType<any>>>;

/** The value type of a union with these arms and default: `{ tag, value }`, narrowed by `tag`. */
// deno-lint-ignore no-explicit-any
export type UnionValue<A extends UnionArms, D extends XdrType<any> | undefined> =
  | { [K in keyof A]: { tag: K extends `${infer N extends number}` ? N : K; value: Infer<A[K]> } }[keyof A]
  | (D extends XdrType<infer T> ? { tag: number; value: T } : never);

/**
 * A discriminated union: the discriminant (an `int`, `unsigned int` or `enum` type), then the arm it selects. A
 * discriminant with no arm decodes only when there is a `defaultArm`.
 *
 * @example `union switch (int status) { case 0: int result; default: void; }`
 * ```ts
 * import { xdr } from "@sockserve/sockserve";
 *
 * const Result = xdr.union(xdr.int(), { 0: xdr.int() }, xdr.voidType());
 * xdr.encode(Result, { tag: 0, value: 42 }); // 00000000 0000002a
 * xdr.encode(Result, { tag: 7, value: undefined }); // 00000007
 * ```
 */
// deno-lint-ignore no-explicit-any
export function union<const A extends UnionArms, D extends XdrType<any> | undefined = undefined>(
  discriminant: XdrType<number>,
  arms: A,
  defaultArm?: D,
): XdrType<UnionValue<A, D>> {
  // deno-lint-ignore no-explicit-any
  const table = new Map<number, XdrType<any>>();
  for (const [key, type] of Object.entries(arms)) table.set(Number(key), type as XdrType<unknown>);
  const fallback = defaultArm as XdrType<unknown> | undefined;
  const sizes = [...table.values(), ...(fallback ? [fallback] : [])].map((type) => type.minSize);
  const arm = (tag: number): XdrType<unknown> => {
    const type = table.get(tag) ?? fallback;
    if (type === undefined) {
      throw new XdrError(`union has no arm for discriminant ${tag} (arms: ${[...table.keys()].join(", ")})`);
    }
    return type;
  };
  return {
    description: `union switch (${discriminant.description}) { ${[...table.keys()].map((k) => `case ${k}:`).join(" ")}${
      fallback ? " default:" : ""
    } }`,
    minSize: discriminant.minSize + (sizes.length > 0 ? Math.min(...sizes) : 0),
    write(writer: XdrWriter, value: UnionValue<A, D>): void {
      if (value === null || typeof value !== "object") throw notA("an object { tag, value }", value);
      const { tag, value: inner } = value as { tag: number; value: unknown };
      const type = arm(tag);
      discriminant.write(writer, tag);
      try {
        type.write(writer, inner);
      } catch (error) {
        throw error instanceof XdrError ? error.within(".value") : error;
      }
    },
    read(reader: XdrReader): UnionValue<A, D> {
      const tag = discriminant.read(reader);
      const type = arm(tag);
      let inner: unknown;
      try {
        inner = type.read(reader);
      } catch (error) {
        throw error instanceof XdrError ? error.within(".value") : error;
      }
      return { tag, value: inner } as UnionValue<A, D>;
    },
  };
}

/** Optional data `T *`: a bool, then the value when TRUE. `null` stands for absent. */
export function optional<T>(type: XdrType<T>): XdrType<T | null> {
  return {
    description: `${type.description} *`,
    minSize: 4,
    write(writer: XdrWriter, value: T | null): void {
      if (value === null || value === undefined) {
        writer.uint32(0);
        return;
      }
      writer.uint32(1);
      type.write(writer, value);
    },
    read(reader: XdrReader): T | null {
      const present = reader.uint32();
      if (present > 1) throw new XdrError(`optional-data flag must be 0 or 1, got ${present}`);
      return present === 1 ? type.read(reader) : null;
    },
  };
}

/**
 * A linked list of optional data, as XDR declares lists (`struct pmaplist { mapping map; pmaplist *next; }` and a
 * `pmaplist *` head): TRUE, element, TRUE, element, …, FALSE on the wire, an array in TypeScript. Decoded in a loop,
 * not by recursion, so a long list cannot overflow the stack; at most `max` elements.
 */
export function list<T>(element: XdrType<T>, max: number = MAX_LENGTH): XdrType<T[]> {
  checkMax(max, "list");
  return {
    description: `${element.description} list`,
    minSize: 4,
    write(writer: XdrWriter, value: T[]): void {
      if (!Array.isArray(value)) throw notA("an array", value);
      if (value.length > max) throw new XdrError(`list longer than ${max} (${value.length})`);
      for (let i = 0; i < value.length; i++) {
        writer.uint32(1);
        try {
          element.write(writer, value[i]);
        } catch (error) {
          throw at(i, error);
        }
      }
      writer.uint32(0);
    },
    read(reader: XdrReader): T[] {
      const out: T[] = [];
      for (;;) {
        const more = reader.uint32();
        if (more === 0) return out;
        if (more !== 1) throw new XdrError(`optional-data flag must be 0 or 1, got ${more}`).within(`[${out.length}]`);
        if (out.length === max) throw new XdrError(`list longer than ${max}`);
        try {
          out.push(element.read(reader));
        } catch (error) {
          throw at(out.length, error);
        }
      }
    },
  };
}

/**
 * A type defined later or in terms of itself (a recursive struct through optional data). Nesting is limited by the
 * reader's `maxDepth` (default 200). Prefer {@link list} for linked lists: it needs no nesting at all.
 *
 * @param minSize fewest bytes the type takes (default 4, true of every XDR type but void)
 */
export function lazy<T>(define: () => XdrType<T>, minSize = 4): XdrType<T> {
  let type: XdrType<T> | undefined;
  let writing = 0;
  const resolved = (): XdrType<T> => (type ??= define());
  return {
    get description(): string {
      return "lazy type";
    },
    minSize,
    write(writer: XdrWriter, value: T): void {
      if (writing >= DEFAULT_MAX_DEPTH) throw new XdrError(`nested deeper than ${DEFAULT_MAX_DEPTH}`);
      writing++;
      try {
        resolved().write(writer, value);
      } finally {
        writing--;
      }
    },
    read(reader: XdrReader): T {
      if (reader.depth >= reader.maxDepth) throw new XdrError(`nested deeper than ${reader.maxDepth}`);
      reader.depth++;
      try {
        return resolved().read(reader);
      } finally {
        reader.depth--;
      }
    },
  };
}
