// XDR (RFC 4506): the RFC's encodings, limits checked before allocating, errors naming the field, property tests
// (round trip; truncated or corrupted input gives an XdrError and nothing else) and a cross-check with @stellar/js-xdr.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type FastCheck from "fast-check";
import type * as JsXdr from "@stellar/js-xdr";
import { xdr, XdrError } from "../mod.ts";

// The dev dependencies, loaded so that a run without them (the package check runs the compiled tests in a directory
// of their own) skips the property tests and the cross-check, saying why, instead of failing to load the file.
const devDependencies = await Promise.all([import("fast-check"), import("@stellar/js-xdr")]).then(
  ([fastCheck, jsXdr]) => ({ fc: fastCheck.default, js: jsXdr }),
  () => null,
);

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text: string): Uint8Array =>
  new Uint8Array(text.replace(/\s+/g, "").match(/../g)!.map((pair) => parseInt(pair, 16)));
const utf8 = new TextEncoder();

function assertXdrError(body: () => unknown, message: string | RegExp): void {
  assert.throws(body, (error: unknown) => {
    assert.ok(error instanceof XdrError, `expected an XdrError, got ${error}`);
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

describe("XDR encodings of RFC 4506", () => {
  // deno-lint-ignore no-explicit-any
  const cases: [string, xdr.XdrType<any>, unknown, string][] = [
    ["int 1", xdr.int(), 1, "00000001"],
    ["int -1 (two's complement)", xdr.int(), -1, "ffffffff"],
    ["int -2^31", xdr.int(), -0x8000_0000, "80000000"],
    ["unsigned int 2^32-1", xdr.uint(), 0xffff_ffff, "ffffffff"],
    ["bool TRUE", xdr.bool(), true, "00000001"],
    ["bool FALSE", xdr.bool(), false, "00000000"],
    ["hyper -2 (as Python's xdrlib)", xdr.hyper(), -2n, "fffffffffffffffe"],
    ["unsigned hyper 2^64-1", xdr.uhyper(), (1n << 64n) - 1n, "ffffffffffffffff"],
    ["float 1.0", xdr.float(), 1, "3f800000"],
    ["double -2.5", xdr.double(), -2.5, "c004000000000000"],
    ["void", xdr.voidType(), undefined, ""],
    ["opaque[5]", xdr.fixedOpaque(5), unhex("0102030405"), "0102030405000000"],
    ["opaque<> of 3", xdr.opaque(), unhex("aabbcc"), "00000003aabbcc00"],
    ["opaque<> of 4 (no padding)", xdr.opaque(8), unhex("aabbccdd"), "00000004aabbccdd"],
    ["string 'sillyprog' (RFC 4506 §7)", xdr.string(), "sillyprog", "0000000973696c6c7970726f67000000"],
    ["int[3] (no count)", xdr.fixedArray(xdr.int(), 3), [1, 2, 3], "000000010000000200000003"],
    ["int<> (count first)", xdr.array(xdr.int()), [7, 8], "000000020000000700000008"],
    ["struct intpair", xdr.struct({ a: xdr.int(), b: xdr.int() }), { a: 2, b: 40 }, "0000000200000028"],
    ["optional absent", xdr.optional(xdr.int()), null, "00000000"],
    ["optional present", xdr.optional(xdr.int()), 7, "0000000100000007"],
    ["list of 2 (1,e,1,e,0)", xdr.list(xdr.uint()), [5, 6], "00000001000000050000000100000006" + "00000000"],
    ["empty list", xdr.list(xdr.uint()), [], "00000000"],
  ];
  for (const [name, type, value, expected] of cases) {
    test(name, () => {
      const bytes = xdr.encode(type, value);
      assert.equal(hex(bytes), expected);
      assert.deepEqual(xdr.decode(type, bytes), value);
    });
  }

  test("enum: declared values only, both ways", () => {
    const Color = xdr.enumeration({ RED: 0, GREEN: 1, BLUE: 2 });
    assert.equal(hex(xdr.encode(Color, Color.values.BLUE)), "00000002");
    assert.equal(xdr.decode(Color, unhex("00000001")), 1);
    assertXdrError(() => xdr.decode(Color, unhex("00000003")), "3 is not a value of the enum (0, 1, 2)");
    assertXdrError(() => xdr.encode(Color, 5 as never), /expected one of the enum values 0, 1, 2, got 5/);
  });

  test("union: the discriminant, then its arm; default arm; unknown discriminant", () => {
    const Reply = xdr.union(xdr.int(), { 0: xdr.int(), 2: xdr.struct({ low: xdr.uint(), high: xdr.uint() }) });
    assert.equal(hex(xdr.encode(Reply, { tag: 2, value: { low: 1, high: 3 } })), "000000020000000100000003");
    const decoded = xdr.decode(Reply, unhex("000000000000002a"));
    assert.deepEqual(decoded, { tag: 0, value: 42 });
    if (decoded.tag === 0) {
      const n: number = decoded.value; // narrowed by the tag
      assert.equal(n, 42);
    }
    assertXdrError(() => xdr.decode(Reply, unhex("00000005")), "union has no arm for discriminant 5 (arms: 0, 2)");
    const WithDefault = xdr.union(xdr.int(), { 0: xdr.int() }, xdr.voidType());
    assert.deepEqual(xdr.decode(WithDefault, unhex("00000005")), { tag: 5, value: undefined });
    assert.equal(hex(xdr.encode(WithDefault, { tag: 9, value: undefined })), "00000009");
  });

  test("a decoded struct has the schema's TypeScript type", () => {
    const Mapping = xdr.struct({
      prog: xdr.uint(),
      vers: xdr.uint(),
      name: xdr.string(8),
      big: xdr.optional(xdr.hyper()),
    });
    const value = xdr.decode(Mapping, xdr.encode(Mapping, { prog: 100000, vers: 2, name: "pm", big: 5n }));
    const prog: number = value.prog;
    const name: string = value.name;
    const big: bigint | null = value.big;
    assert.deepEqual([prog, name, big], [100000, "pm", 5n]);
  });
});

describe("XDR limits and errors", () => {
  test("errors name the field path", () => {
    const Item = xdr.struct({ name: xdr.string(255), count: xdr.uint() });
    const Args = xdr.struct({ items: xdr.array(Item, 10) });
    const items = Array.from({ length: 4 }, (_, i) => ({ name: i === 3 ? "x".repeat(256) : "ok", count: i }));
    assertXdrError(
      () => xdr.encode(Args, { items }, { path: "args" }),
      "args.items[3].name: string longer than 255 (256 bytes)",
    );
    // The same fault on the wire.
    const good = xdr.encode(Args, { items: items.slice(0, 3) });
    const bad = new Uint8Array([...good.subarray(0, 3), 4, ...good.subarray(4), 0, 0, 1, 0]);
    assertXdrError(() => xdr.decode(Args, bad, { path: "args" }), "args.items[3].name: string longer than 255 (256)");
    assert.equal(String(new XdrError("bad", "args.x")), "XdrError: args.x: bad");
  });

  test("a length beyond the bytes left fails before allocating", () => {
    // A 4 GiB opaque, string and array announced in 4 bytes: nothing is allocated, the error says why.
    assertXdrError(
      () => xdr.decode(xdr.opaque(), unhex("ffffffff")),
      "opaque of 4294967295 bytes needs 4294967296 bytes, but only 0 are left",
    );
    assertXdrError(() => xdr.decode(xdr.string(), unhex("fffffff0")), /string of 4294967280 bytes needs/);
    assertXdrError(
      () => xdr.decode(xdr.array(xdr.hyper()), unhex("40000000 00000000")),
      "array of 1073741824 elements needs at least 8589934592 bytes, but only 4 are left",
    );
    assertXdrError(
      () => xdr.decode(xdr.fixedArray(xdr.int(), 1000), unhex("00000000")),
      /array of 1000 elements needs/,
    );
    // Arrays of elements that take no bytes cannot be checked, so they cannot be declared.
    assert.throws(() => xdr.array(xdr.voidType()), TypeError);
  });

  test("declared maximums, both ways", () => {
    assertXdrError(() => xdr.decode(xdr.opaque(2), unhex("00000003 01020300")), "opaque longer than 2 (3)");
    assertXdrError(() => xdr.encode(xdr.opaque(2), unhex("010203")), "opaque longer than 2 (3)");
    assertXdrError(
      () => xdr.decode(xdr.array(xdr.int(), 1), unhex("00000002 00000001 00000002")),
      "array longer than 1 (2)",
    );
    assertXdrError(
      () => xdr.decode(xdr.list(xdr.int(), 1), unhex("00000001 00000001 00000001 00000002 00000000")),
      "list longer than 1",
    );
    // The maximum counts UTF-8 bytes, not characters (js-xdr#33).
    assertXdrError(() => xdr.encode(xdr.string(3), "ééé"), "string longer than 3 (6 bytes)");
  });

  test("bad padding, flags, bools, trailing bytes and values of the wrong kind", () => {
    assertXdrError(() => xdr.decode(xdr.opaque(), unhex("00000001 ff000001")), "opaque has non-zero padding");
    assertXdrError(() => xdr.decode(xdr.bool(), unhex("00000002")), "bool must be 0 or 1, got 2");
    assertXdrError(
      () => xdr.decode(xdr.optional(xdr.int()), unhex("00000002")),
      "optional-data flag must be 0 or 1, got 2",
    );
    assertXdrError(() => xdr.decode(xdr.int(), unhex("00000001 00000000")), "4 bytes left over after int");
    assert.equal(xdr.decode(xdr.int(), unhex("00000001 00000000"), { allowTrailing: true }), 1);
    assertXdrError(() => xdr.encode(xdr.int(), 2 ** 31), /expected an int/);
    assertXdrError(() => xdr.encode(xdr.uint(), -1), /expected an unsigned int/);
    assertXdrError(() => xdr.encode(xdr.hyper(), 1 as never), /expected a hyper/);
    assertXdrError(
      () => xdr.encode(xdr.struct({ a: xdr.int() }), {} as never, { path: "p" }),
      "p.a: expected an int (-2^31..2^31-1), got undefined",
    );
    assertXdrError(() => xdr.decode(xdr.int(), unhex("0000")), "int needs 4 bytes, but only 2 are left");
  });

  test("a long optional-data list decodes in a loop; recursive types stop at maxDepth", () => {
    const count = 200_000;
    const bytes = xdr.encode(xdr.list(xdr.uint()), Array.from({ length: count }, (_, i) => i));
    assert.equal(bytes.length, count * 8 + 4);
    assert.equal(xdr.decode(xdr.list(xdr.uint()), bytes).length, count);
    // The same list declared recursively, as rpcgen does: `struct node { unsigned v; node *next; }`.
    type Node = { v: number; next: Node | null };
    const NodeType: xdr.XdrType<Node> = xdr.lazy(() => xdr.struct({ v: xdr.uint(), next: xdr.optional(NodeType) }));
    const short = xdr.encode(NodeType, { v: 1, next: { v: 2, next: null } });
    assert.deepEqual(xdr.decode(NodeType, short), { v: 1, next: { v: 2, next: null } });
    // A deep chain (as a list's bytes, 1/value pairs) fails cleanly rather than overflowing the stack.
    const deep = new Uint8Array(bytes.length);
    deep.set(bytes.subarray(4));
    assertXdrError(() => xdr.decode(NodeType, deep, { allowTrailing: true }), /nested deeper than 200/);
    assert.equal(xdr.decode(NodeType, unhex("00000001 00000001 00000002 00000000"), { maxDepth: 2 }).next?.v, 2);
  });
});

if (devDependencies === null) {
  test("XDR properties and the cross-check with @stellar/js-xdr", {
    skip: "needs the dev dependencies fast-check and @stellar/js-xdr (npm install)",
  }, () => {});
} else {
  propertySuites(devDependencies.fc, devDependencies.js);
}

function propertySuites(fc: typeof FastCheck, js: typeof JsXdr): void {
  // One schema holding every type, with values for it.
  const Kind = xdr.enumeration({ A: 1, B: 2, C: -3 });
  const Everything = xdr.struct({
    i: xdr.int(),
    u: xdr.uint(),
    k: Kind,
    flag: xdr.bool(),
    h: xdr.hyper(),
    uh: xdr.uhyper(),
    f: xdr.float(),
    d: xdr.double(),
    fixed: xdr.fixedOpaque(3),
    bytes: xdr.opaque(20),
    name: xdr.string(30),
    trio: xdr.fixedArray(xdr.int(), 3),
    items: xdr.array(xdr.struct({ n: xdr.string(8), c: xdr.uint() }), 5),
    choice: xdr.union(Kind, { 1: xdr.int(), 2: xdr.string(10) }, xdr.voidType()),
    maybe: xdr.optional(xdr.hyper()),
    chain: xdr.list(xdr.uint(), 10),
  });
  const everything = fc.record({
    i: fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff }),
    u: fc.integer({ min: 0, max: 0xffff_ffff }),
    k: fc.constantFrom(1 as const, 2 as const, -3 as const),
    flag: fc.boolean(),
    h: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
    uh: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    f: fc.float({ noNaN: true }),
    d: fc.double({ noNaN: true }),
    fixed: fc.uint8Array({ minLength: 3, maxLength: 3 }),
    bytes: fc.uint8Array({ maxLength: 20 }),
    name: fc.string({ maxLength: 30 }),
    trio: fc.array(fc.integer({ min: -100, max: 100 }), { minLength: 3, maxLength: 3 }),
    items: fc.array(fc.record({ n: fc.string({ maxLength: 8 }), c: fc.nat() }), { maxLength: 5 }),
    choice: fc.oneof(
      fc.record({ tag: fc.constant(1), value: fc.integer({ min: -5, max: 5 }) }),
      fc.record({ tag: fc.constant(2), value: fc.string({ maxLength: 10 }) }),
      fc.constant({ tag: -3, value: undefined }),
    ),
    maybe: fc.option(fc.bigInt({ min: -10n, max: 10n }), { nil: null }),
    chain: fc.array(fc.nat(), { maxLength: 10 }),
  });

  /** fast-check's records have no prototype; decoded structs are plain objects. */
  const plain = <T>(value: T): T => structuredClone(value);

  describe("XDR properties", () => {
    test("encode then decode gives the value back", () => {
      fc.assert(fc.property(everything, (value) => {
        assert.deepEqual(xdr.decode(Everything, xdr.encode(Everything, value as never)), plain(value));
      }));
    });

    test("every truncation gives an XdrError, never another exception", () => {
      fc.assert(
        fc.property(everything, (value) => {
          const bytes = xdr.encode(Everything, value as never);
          for (let cut = 0; cut < bytes.length; cut++) {
            assert.throws(() => xdr.decode(Everything, bytes.subarray(0, cut)), XdrError);
          }
        }),
        { numRuns: 50 },
      );
    });

    test("corrupted bytes decode or give an XdrError, never another exception", () => {
      fc.assert(
        fc.property(everything, fc.nat(), fc.integer({ min: 0, max: 255 }), (value, where, byte) => {
          const bytes = xdr.encode(Everything, value as never).slice();
          bytes[where % bytes.length] = byte;
          try {
            xdr.decode(Everything, bytes);
          } catch (error) {
            if (!(error instanceof XdrError)) throw error;
          }
        }),
        { numRuns: 300 },
      );
    });

    test("random bytes never throw anything but an XdrError", () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          xdr.decode(Everything, bytes);
        } catch (error) {
          if (!(error instanceof XdrError)) throw error;
        }
      }));
    });
  });

  describe("XDR cross-checked with @stellar/js-xdr", () => {
    const TheirKind = js.enumType("Kind", { A: 1, B: 2, C: -3 });
    const Theirs = js.struct("Everything", {
      i: js.int32(),
      u: js.uint32(),
      k: TheirKind,
      flag: js.bool(),
      h: js.int64(),
      uh: js.uint64(),
      f: js.float(),
      d: js.double(),
      fixed: js.opaque(3),
      bytes: js.varOpaque(20),
      name: js.string(30),
      trio: js.fixedArray(js.int32(), 3),
      items: js.array(js.struct("Item", { n: js.string(8), c: js.uint32() }), 5),
      choice: js.union("Choice", {
        switchOn: TheirKind,
        cases: [js.case("a", 1, js.field("value", js.int32())), js.case("b", 2, js.field("value", js.string(10)))],
        defaultArm: js.void(),
        switchKey: "tag",
      }),
      maybe: js.option(js.int64()),
      chain: js.lazy(() => Chain),
    });
    const Chain: JsXdr.XdrType<unknown> = js.option(js.lazy(() => js.struct("Link", { v: js.uint32(), next: Chain })));

    // deno-lint-ignore no-explicit-any
    function theirValue(value: any): unknown {
      let chain: unknown = null;
      for (let i = value.chain.length - 1; i >= 0; i--) chain = { v: value.chain[i], next: chain };
      return {
        ...value,
        name: utf8.encode(value.name),
        items: value.items.map((item: { n: string; c: number }) => ({ n: utf8.encode(item.n), c: item.c })),
        choice: value.choice.tag === 2
          ? { tag: 2, value: utf8.encode(value.choice.value) }
          : value.choice.tag === 1
          ? value.choice
          : { tag: -3 },
        chain,
      };
    }

    test("both libraries encode every value to the same bytes, and decode each other's", () => {
      fc.assert(
        fc.property(everything, (value) => {
          const ours = xdr.encode(Everything, value as never);
          const theirs = Theirs.encode(theirValue(value) as never);
          assert.equal(hex(ours), hex(theirs));
          assert.deepEqual(xdr.decode(Everything, theirs), plain(value));
        }),
        { numRuns: 200 },
      );
    });

    test("what one rejects as truncated, so does the other", () => {
      fc.assert(
        fc.property(everything, fc.nat(), (value, where) => {
          const bytes = xdr.encode(Everything, value as never);
          const cut = bytes.subarray(0, where % bytes.length);
          assert.equal(Theirs.validateXdr(cut), false);
          assert.throws(() => xdr.decode(Everything, cut), XdrError);
        }),
        { numRuns: 200 },
      );
    });
  });
}
