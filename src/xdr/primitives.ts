/**
 * The XDR base types: int, unsigned int, enum, bool, hyper, unsigned hyper, float, double, void.
 *
 * @module
 */
import { XdrError } from "./error.ts";
import type { XdrReader } from "./reader.ts";
import type { XdrType } from "./type.ts";
import type { XdrWriter } from "./writer.ts";

const INT_MIN = -0x8000_0000, INT_MAX = 0x7fff_ffff, UINT_MAX = 0xffff_ffff;
const HYPER_MIN = -(1n << 63n), HYPER_MAX = (1n << 63n) - 1n, UHYPER_MAX = (1n << 64n) - 1n;

function show(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "an array" : value instanceof Uint8Array ? "a Uint8Array" : "an object";
}

/** The message for a value that is not of the type. */
export function notA(what: string, value: unknown): XdrError {
  return new XdrError(`expected ${what}, got ${show(value)}`);
}

const INT: XdrType<number> = {
  description: "int",
  minSize: 4,
  write(writer: XdrWriter, value: number): void {
    if (!Number.isInteger(value) || value < INT_MIN || value > INT_MAX) throw notA("an int (-2^31..2^31-1)", value);
    writer.int32(value);
  },
  read(reader: XdrReader): number {
    return reader.int32();
  },
};

const UINT: XdrType<number> = {
  description: "unsigned int",
  minSize: 4,
  write(writer: XdrWriter, value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > UINT_MAX) throw notA("an unsigned int (0..2^32-1)", value);
    writer.uint32(value);
  },
  read(reader: XdrReader): number {
    return reader.uint32();
  },
};

const BOOL: XdrType<boolean> = {
  description: "bool",
  minSize: 4,
  write(writer: XdrWriter, value: boolean): void {
    if (typeof value !== "boolean") throw notA("a boolean", value);
    writer.uint32(value ? 1 : 0);
  },
  read(reader: XdrReader): boolean {
    const word = reader.uint32();
    if (word > 1) throw new XdrError(`bool must be 0 or 1, got ${word}`);
    return word === 1;
  },
};

const HYPER: XdrType<bigint> = {
  description: "hyper",
  minSize: 8,
  write(writer: XdrWriter, value: bigint): void {
    if (typeof value !== "bigint" || value < HYPER_MIN || value > HYPER_MAX) {
      throw notA("a hyper (a bigint, -2^63..2^63-1)", value);
    }
    writer.int64(value);
  },
  read(reader: XdrReader): bigint {
    return reader.int64();
  },
};

const UHYPER: XdrType<bigint> = {
  description: "unsigned hyper",
  minSize: 8,
  write(writer: XdrWriter, value: bigint): void {
    if (typeof value !== "bigint" || value < 0n || value > UHYPER_MAX) {
      throw notA("an unsigned hyper (a bigint, 0..2^64-1)", value);
    }
    writer.uint64(value);
  },
  read(reader: XdrReader): bigint {
    return reader.uint64();
  },
};

const FLOAT: XdrType<number> = {
  description: "float",
  minSize: 4,
  write(writer: XdrWriter, value: number): void {
    if (typeof value !== "number") throw notA("a number", value);
    writer.float32(value);
  },
  read(reader: XdrReader): number {
    return reader.float32();
  },
};

const DOUBLE: XdrType<number> = {
  description: "double",
  minSize: 8,
  write(writer: XdrWriter, value: number): void {
    if (typeof value !== "number") throw notA("a number", value);
    writer.float64(value);
  },
  read(reader: XdrReader): number {
    return reader.float64();
  },
};

const VOID: XdrType<undefined> = {
  description: "void",
  minSize: 0,
  write(_writer: XdrWriter, value: undefined): void {
    if (value !== undefined) throw notA("undefined (void)", value);
  },
  read(_reader: XdrReader): undefined {
    return undefined;
  },
};

/** `int`: a signed 32-bit integer, as a number. */
export function int(): XdrType<number> {
  return INT;
}

/** `unsigned int`: 0 to 2^32-1, as a number. */
export function uint(): XdrType<number> {
  return UINT;
}

/** `bool`: FALSE (0) or TRUE (1) on the wire, a boolean in TypeScript; any other word does not decode. */
export function bool(): XdrType<boolean> {
  return BOOL;
}

/** `hyper`: a signed 64-bit integer, as a bigint. */
export function hyper(): XdrType<bigint> {
  return HYPER;
}

/** `unsigned hyper`: 0 to 2^64-1, as a bigint. */
export function uhyper(): XdrType<bigint> {
  return UHYPER;
}

/** `float`: an IEEE single (a number rounded to single precision). */
export function float(): XdrType<number> {
  return FLOAT;
}

/** `double`: an IEEE double. */
export function double(): XdrType<number> {
  return DOUBLE;
}

/** `void`: no bytes; the value is `undefined`. */
export function voidType(): XdrType<undefined> {
  return VOID;
}

/**
 * `enum`: a signed 32-bit word that must be one of the declared values, in both directions. The value type is the
 * union of the declared numbers.
 *
 * @example `enum color { RED = 0, GREEN = 1, BLUE = 2 }`
 * ```ts
 * import { xdr } from "@sockserve/sockserve";
 *
 * const Color = xdr.enumeration({ RED: 0, GREEN: 1, BLUE: 2 });
 * xdr.encode(Color, Color.values.BLUE); // 00000002
 * ```
 */
export function enumeration<const V extends Readonly<Record<string, number>>>(
  values: V,
): XdrType<V[keyof V]> & { readonly values: V } {
  const declared = new Map<number, string>();
  for (const [name, value] of Object.entries(values)) {
    if (!Number.isInteger(value) || value < INT_MIN || value > INT_MAX) {
      throw new RangeError(`enum value ${name} = ${value} is not a 32-bit integer`);
    }
    if (declared.has(value)) {
      throw new RangeError(`enum value ${value} is declared twice (${declared.get(value)}, ${name})`);
    }
    declared.set(value, name);
  }
  const list = [...declared.keys()].join(", ");
  const description = `enum { ${[...declared].map(([v, n]) => `${n} = ${v}`).join(", ")} }`;
  return {
    description,
    minSize: 4,
    values,
    write(writer: XdrWriter, value: V[keyof V]): void {
      if (typeof value !== "number" || !declared.has(value)) throw notA(`one of the enum values ${list}`, value);
      writer.int32(value);
    },
    read(reader: XdrReader): V[keyof V] {
      const value = reader.int32();
      if (!declared.has(value)) throw new XdrError(`${value} is not a value of the enum (${list})`);
      return value as V[keyof V];
    },
  };
}
