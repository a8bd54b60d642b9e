// The PROXY protocol codec: the bytes HAProxy 2.6 and nginx 1.22 sent (captured in the scale-out reference), every
// refusal the spec asks for, CRC32C, the trusted-proxy matcher, and property tests: any split of the input gives the
// result of one chunk, encode → parse round-trips, and corrupt input fails with ProxyProtocolError and nothing else.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  crc32c,
  encodeProxyHeader,
  parseProxyHeader,
  PROXY_TLV,
  type ProxyHeader,
  type ProxyHeaderInit,
  ProxyHeaderParser,
  type ProxyParseOptions,
  ProxyProtocolError,
  type ProxyProtocolErrorCode,
  type ProxyTransportProtocol,
  trustedProxies,
} from "../mod.ts";
import { formatIPv6, parseIPv6 } from "../src/proxy/ip.ts";
import { bytes, text } from "./_helpers.ts";

function hex(value: string): Uint8Array {
  const clean = value.replace(/\s+/g, "");
  return Uint8Array.from(clean.match(/../g)!, (pair) => parseInt(pair, 16));
}

function join(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const SIGNATURE = "0d0a0d0a000d0a515549540a";
const UNIQUE_ID = "7F000001:E85E_7F000001:5E1A_6B0FA517_0003";

/** The captures of the reference (section 4), and what each must parse to. */
const CAPTURES: ReadonlyArray<{ name: string; bytes: Uint8Array; expect: Partial<ProxyHeader> }> = [
  {
    name: "HAProxy send-proxy, TCP4 client",
    bytes: bytes("PROXY TCP4 127.0.0.1 127.0.0.1 35658 24080\r\n"),
    expect: { version: 1, protocol: "TCP4", source: ["127.0.0.1", 35658], destination: ["127.0.0.1", 24080] },
  },
  {
    name: "HAProxy send-proxy, TCP6 client",
    bytes: bytes("PROXY TCP6 ::1 ::1 57474 24080\r\n"),
    expect: { version: 1, protocol: "TCP6", source: ["::1", 57474], destination: ["::1", 24080] },
  },
  {
    name: "HAProxy and nginx, unix-socket client (v1)",
    bytes: bytes("PROXY UNKNOWN\r\n"),
    expect: { version: 1, command: "PROXY", protocol: "UNKNOWN", source: null, destination: null },
  },
  {
    name: "HAProxy v1 health check",
    bytes: bytes("PROXY TCP4 127.0.0.1 127.0.0.1 51578 24082\r\n"),
    expect: { version: 1, source: ["127.0.0.1", 51578], destination: ["127.0.0.1", 24082] },
  },
  {
    name: "HAProxy send-proxy-v2 with unique-id and crc32c",
    bytes: hex(
      `${SIGNATURE} 21 11 003f 7f000001 7f000001 e85e 5e1a 03 0004 bd55d02e 05 0029 ${
        Array.from(bytes(UNIQUE_ID), (b) => b.toString(16).padStart(2, "0")).join("")
      }`,
    ),
    expect: {
      version: 2,
      command: "PROXY",
      protocol: "TCP4",
      source: ["127.0.0.1", 0xe85e],
      destination: ["127.0.0.1", 0x5e1a],
      crc32c: 0xbd55d02e,
    },
  },
  {
    name: "HAProxy v2 health check (LOCAL, CRC32C only)",
    bytes: hex(`${SIGNATURE} 20 00 0007 030004a9b87e8f`),
    expect: { version: 2, command: "LOCAL", protocol: "UNKNOWN", source: null, destination: null, crc32c: 0xa9b87e8f },
  },
  {
    name: "HAProxy tcp-check connect default (LOCAL, 16 bytes)",
    bytes: hex(`${SIGNATURE} 20 00 0000`),
    expect: { version: 2, command: "LOCAL", source: null, tlvs: [] },
  },
  {
    name: "HAProxy TCP client to a unix backend (v2 INET)",
    bytes: hex(`${SIGNATURE} 21 11 000c 7f000001 7f000001 c2da 5e2a`),
    expect: { version: 2, protocol: "TCP4", source: ["127.0.0.1", 0xc2da], destination: ["127.0.0.1", 0x5e2a] },
  },
];

function expectHeader(header: ProxyHeader, expect: Partial<ProxyHeader>): void {
  for (const [key, value] of Object.entries(expect)) {
    assert.deepEqual(header[key as keyof ProxyHeader], value, key);
  }
}

function refusal(input: Uint8Array, options?: ProxyParseOptions): ProxyProtocolErrorCode {
  try {
    const parser = new ProxyHeaderParser(options);
    const result = parser.push(input);
    if (result === null) parser.end();
  } catch (error) {
    assert.ok(error instanceof ProxyProtocolError, `a ProxyProtocolError, got ${error}`);
    return error.code;
  }
  assert.fail(`${text(input)} was accepted`);
}

/** Feeds `input` in the given pieces; returns the header and every byte after it. */
function parsePieces(input: Uint8Array, cuts: readonly number[], options?: ProxyParseOptions) {
  const parser = new ProxyHeaderParser(options);
  let result: { header: ProxyHeader; rest: Uint8Array } | null = null;
  const after: Uint8Array[] = [];
  let start = 0;
  for (const end of [...cuts, input.length]) {
    const piece = input.subarray(start, end);
    start = end;
    if (result !== null) {
      after.push(parser.push(piece)!.rest);
      continue;
    }
    result = parser.push(piece);
    if (result !== null) after.push(result.rest);
  }
  if (result === null) return null;
  return { header: result.header, rest: join(...after) };
}

describe("PROXY protocol: the captured headers", () => {
  for (const capture of CAPTURES) {
    test(`${capture.name}: parses, with the data after it left over`, () => {
      const data = bytes("hello\n");
      const parsed = parseProxyHeader(join(capture.bytes, data));
      assert.ok(parsed !== null);
      expectHeader(parsed.header, capture.expect);
      assert.deepEqual(parsed.header.raw, capture.bytes);
      assert.equal(text(parsed.rest), "hello\n");
    });

    test(`${capture.name}: every split point gives the same result as one chunk`, () => {
      const input = join(capture.bytes, bytes("GET / HTTP/1.1\r\n"));
      const whole = parseProxyHeader(input);
      for (let cut = 0; cut <= input.length; cut++) {
        assert.deepEqual(parsePieces(input, [cut]), whole, `split at ${cut}`);
      }
      // Byte by byte, too.
      assert.deepEqual(parsePieces(input, Array.from({ length: input.length }, (_, i) => i)), whole);
    });

    test(`${capture.name}: any prefix is incomplete, never wrong`, () => {
      for (let length = 0; length < capture.bytes.length; length++) {
        assert.equal(parseProxyHeader(capture.bytes.subarray(0, length)), null, `prefix of ${length}`);
      }
    });
  }

  test("the unique id and the raw TLVs of the v2 capture", () => {
    const { header } = parseProxyHeader(CAPTURES[4].bytes)!;
    assert.equal(text(header.uniqueId!), UNIQUE_ID);
    assert.deepEqual(header.tlvs.map((tlv) => tlv.type), [PROXY_TLV.CRC32C, PROXY_TLV.UNIQUE_ID]);
  });

  test("a TCP6 v2 header (HAProxy's 0x21 0x21 form) gives canonical IPv6 text", () => {
    const header = encodeProxyHeader({ version: 2, source: ["2001:0db8:0:0::1", 1], destination: ["::1", 2] });
    assert.equal(text(header.subarray(12, 14)), "\x21\x21");
    assert.deepEqual(parseProxyHeader(header)!.header.source, ["2001:db8::1", 1]);
  });
});

describe("PROXY protocol v1: what is refused", () => {
  const unknownOf = (length: number) => bytes(`PROXY UNKNOWN ${"x".repeat(length - 16)}\r\n`);

  test("a 107-byte line (the longest allowed) is accepted; 108 bytes is too long", () => {
    assert.equal(unknownOf(107).length, 107);
    assert.equal(parseProxyHeader(unknownOf(107))!.header.protocol, "UNKNOWN");
    assert.equal(refusal(unknownOf(108)), "line-too-long");
    // No CRLF within 107 bytes: refused at the 107th byte, without waiting for more.
    assert.equal(refusal(bytes(`PROXY UNKNOWN ${"x".repeat(93)}`)), "line-too-long");
    assert.equal(parseProxyHeader(bytes(`PROXY UNKNOWN ${"x".repeat(92)}`)), null);
  });

  test("UNKNOWN ignores the rest of its line", () => {
    const { header, rest } = parseProxyHeader(bytes("PROXY UNKNOWN ffff::1 ::1 1 2\r\nx"))!;
    assert.deepEqual([header.source, header.destination, text(rest)], [null, null, "x"]);
  });

  const refused: ReadonlyArray<[string, ProxyProtocolErrorCode]> = [
    ["GET / HTTP/1.1\r\n", "bad-signature"],
    ["proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "bad-signature"],
    ["PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "bad-line"],
    ["PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "bad-family"],
    ["PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "bad-family"],
    ["PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "bad-line"],
    ["PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "bad-line"],
    ["PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "bad-line"],
    ["PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n", "bad-line"],
    ["PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "bad-line"],
    ["PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "bad-line"],
    ["PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "bad-line"],
    ["PROXY TCP6 ::1 1::2::3 1 2\r\n", "bad-line"],
    ["PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", "bad-line"],
    ["PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n", "bad-line"],
    ["PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", "bad-line"],
    ["PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "bad-line"],
    ["PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\n", "bad-line"],
    ["PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", "bad-line"],
  ];
  for (const [line, code] of refused) {
    test(`${JSON.stringify(line)}: ${code}`, () => assert.equal(refusal(bytes(line)), code));
  }

  test("a wrong first byte is refused at once, a lone CR as soon as the next byte shows it", () => {
    assert.throws(() => new ProxyHeaderParser().push(bytes("G")), { code: "bad-signature" });
    assert.throws(() => new ProxyHeaderParser().push(bytes("PROXY TCP4\rx")), { code: "bad-line" });
  });

  test("versions: v1 refused where only v2 is accepted, and the other way round", () => {
    assert.equal(refusal(CAPTURES[0].bytes, { versions: ["v2"] }), "version-not-allowed");
    assert.equal(refusal(CAPTURES[4].bytes, { versions: ["v1"] }), "version-not-allowed");
    assert.ok(parseProxyHeader(CAPTURES[4].bytes, { versions: ["v2"] }));
    assert.ok(parseProxyHeader(CAPTURES[0].bytes, { versions: "any" }));
  });
});

describe("PROXY protocol v2: what is refused", () => {
  const v2 = (rest: string) => hex(`${SIGNATURE} ${rest}`);

  test("a bad signature, version, command, family or length", () => {
    assert.equal(refusal(hex("0d0a0d0a000d0a515549540b 21 11 000c 7f000001 7f000001 0001 0002")), "bad-signature");
    assert.equal(refusal(v2("11 11 000c 7f000001 7f000001 0001 0002")), "bad-version");
    assert.equal(refusal(v2("31 11 000c 7f000001 7f000001 0001 0002")), "bad-version");
    assert.equal(refusal(v2("22 11 000c 7f000001 7f000001 0001 0002")), "bad-command");
    assert.equal(refusal(v2("21 41 000c 7f000001 7f000001 0001 0002")), "bad-family");
    assert.equal(refusal(v2("21 13 000c 7f000001 7f000001 0001 0002")), "bad-family");
    assert.equal(refusal(v2("21 11 000b 7f000001 7f000001 0001 00")), "bad-length");
    assert.equal(refusal(v2("21 21 000c 7f000001 7f000001 0001 0002")), "bad-length");
    assert.equal(refusal(v2("21 31 0010")), "bad-length");
  });

  test("LOCAL ignores the family, and still skips the length it announces", () => {
    const { header, rest } = parseProxyHeader(join(v2("20 ff 0003 aabbcc"), bytes("ping\n")))!;
    assert.deepEqual([header.command, header.source, text(rest)], ["LOCAL", null, "ping\n"]);
    const local = parseProxyHeader(v2("20 11 000c 7f000001 7f000001 0001 0002"))!.header;
    assert.deepEqual([local.command, local.protocol, local.source], ["LOCAL", "TCP4", null]);
  });

  test("AF_UNSPEC with PROXY: no addresses (the socket's are used)", () => {
    const { header } = parseProxyHeader(v2("21 00 0000"))!;
    assert.deepEqual([header.command, header.protocol, header.source], ["PROXY", "UNKNOWN", null]);
  });

  test("a length announcing too many TLV bytes is refused before they arrive", () => {
    // 12 address bytes, then 5000 bytes of TLVs announced; only the 16 fixed bytes sent.
    assert.equal(refusal(v2("21 11 1394")), "tlv-too-large");
    assert.equal(parseProxyHeader(v2("21 11 1394"), { maxTlvBytes: 5000 }), null);
    const header = encodeProxyHeader({
      version: 2,
      source: ["1.2.3.4", 1],
      destination: ["5.6.7.8", 2],
      tlvs: [{ type: 0xe0, value: new Uint8Array(100) }],
    });
    assert.equal(refusal(header, { maxTlvBytes: 102 }), "tlv-too-large");
    assert.ok(parseProxyHeader(header, { maxTlvBytes: 103 }));
  });

  test("malformed TLVs: cut short, a CRC32C of the wrong size or twice, a unique id over 128 bytes, SSL too short", () => {
    const address = "7f000001 7f000001 0001 0002";
    assert.equal(refusal(v2(`21 11 000e ${address} 0400`)), "bad-tlv");
    assert.equal(refusal(v2(`21 11 0010 ${address} 040002 aa`)), "bad-tlv");
    assert.equal(refusal(v2(`21 11 0012 ${address} 030003 000000`)), "bad-tlv");
    const id = (length: number) =>
      encodeProxyHeader({
        version: 2,
        source: ["1.2.3.4", 1],
        destination: ["5.6.7.8", 2],
        tlvs: [{ type: PROXY_TLV.UNIQUE_ID, value: new Uint8Array(length) }],
      });
    assert.ok(parseProxyHeader(id(128)));
    assert.equal(refusal(id(129)), "bad-tlv");
    assert.equal(refusal(v2(`21 11 0013 ${address} 200004 01000000`)), "bad-tlv");
    const twice = encodeProxyHeader({
      version: 2,
      source: ["1.2.3.4", 1],
      destination: ["5.6.7.8", 2],
      tlvs: [{ type: PROXY_TLV.CRC32C, value: new Uint8Array(4) }],
      crc32c: true,
    });
    assert.equal(refusal(twice), "bad-crc32c");
  });

  test("CRC32C: a changed byte anywhere in the captured header is refused", () => {
    const capture = CAPTURES[4].bytes;
    for (const at of [12 + 4, 16, 20, 24, 27, 31, 40, capture.length - 1]) {
      const damaged = capture.slice();
      damaged[at] ^= 0x01;
      assert.equal(refusal(damaged), "bad-crc32c", `byte ${at}`);
    }
  });

  test("a v2 header cut short by the end of the connection: truncated; nothing at all: closed", () => {
    const parser = new ProxyHeaderParser();
    assert.equal(parser.push(CAPTURES[4].bytes.subarray(0, 20)), null);
    assert.throws(() => parser.end(), { code: "truncated" });
    assert.throws(() => new ProxyHeaderParser().end(), { code: "closed" });
  });
});

describe("CRC32C", () => {
  test("the check value of the Castagnoli CRC, and continuation over pieces", () => {
    assert.equal(crc32c(bytes("123456789")), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(0)), 0);
    const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
    assert.equal(crc32c(data), 0x79a16ae6); // computed bit by bit in Python
    for (const cut of [0, 1, 7, 8, 9, 500, 999]) {
      assert.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), 0x79a16ae6);
    }
  });

  test("equals HAProxy's checksum of both captures (field zeroed, read big-endian)", () => {
    for (const capture of [CAPTURES[4].bytes, CAPTURES[5].bytes]) {
      const at = capture.indexOf(PROXY_TLV.CRC32C, 16) + 3;
      const zeroed = capture.slice();
      zeroed.fill(0, at, at + 4);
      assert.equal(crc32c(zeroed), new DataView(capture.buffer).getUint32(at));
    }
  });
});

describe("encodeProxyHeader", () => {
  test("writes HAProxy's bytes for the same header", () => {
    const v2 = encodeProxyHeader({
      version: 2,
      source: ["127.0.0.1", 0xc2da],
      destination: ["127.0.0.1", 0x5e2a],
    });
    assert.deepEqual(v2, CAPTURES[7].bytes);
    assert.deepEqual(encodeProxyHeader({ version: 2, command: "LOCAL" }), CAPTURES[6].bytes);
    assert.equal(
      text(encodeProxyHeader({ version: 1, source: ["::1", 57474], destination: ["::1", 24080] })),
      text(CAPTURES[1].bytes),
    );
    assert.equal(text(encodeProxyHeader({ version: 1 })), "PROXY UNKNOWN\r\n");
  });

  test("refuses what the version cannot say", () => {
    assert.throws(() => encodeProxyHeader({ version: 1, source: ["1.2.3.4", 1], destination: ["::1", 2] }), TypeError);
    assert.throws(() => encodeProxyHeader({ version: 1, source: "/tmp/s", destination: "/tmp/d" }), TypeError);
    assert.throws(
      () => encodeProxyHeader({ version: 1, source: ["1.2.3.4", 1], destination: ["1.2.3.4", 2], alpn: "h2" }),
      /v1 carries no TLVs/,
    );
    assert.throws(() => encodeProxyHeader({ version: 2, source: ["1.2.3.4", 70000], destination: ["1.2.3.4", 2] }), {
      name: "RangeError",
    });
    assert.throws(() => encodeProxyHeader({ version: 3 as 2 }), TypeError);
    assert.throws(() => encodeProxyHeader({ version: 2, source: "x".repeat(109), destination: "/d" }), RangeError);
  });
});

describe("trustedProxies", () => {
  test("CIDRs, addresses, IPv4-mapped peers, unix peers", () => {
    const trusted = trustedProxies(["10.0.0.0/8", "192.168.1.7", "fd00::/8", "::1", "::ffff:172.16.0.0/108", "unix"]);
    const yes: ReadonlyArray<[string, number] | string> = [
      ["10.0.0.1", 1],
      ["10.255.255.255", 1],
      ["::ffff:10.1.2.3", 1],
      ["192.168.1.7", 1],
      ["fd12:3456::1", 1],
      ["::1", 1],
      ["172.16.9.9", 1],
      "",
      "/run/haproxy.sock",
    ];
    const no: ReadonlyArray<[string, number]> = [
      ["11.0.0.1", 1],
      ["192.168.1.8", 1],
      ["fe80::1", 1],
      ["::2", 1],
      ["172.32.0.1", 1],
      ["127.0.0.1", 1],
    ];
    for (const peer of yes) assert.equal(trusted(peer), true, JSON.stringify(peer));
    for (const peer of no) assert.equal(trusted(peer), false, JSON.stringify(peer));
  });

  test('prefixes that cut inside a byte; /0; unix paths without "unix"', () => {
    const trusted = trustedProxies(["100.64.0.0/10", "0.0.0.0/0", "/run/lb.sock"]);
    assert.equal(trusted(["1.2.3.4", 1]), true);
    assert.equal(trusted(["::1", 1]), false);
    assert.equal(trusted("/run/lb.sock"), true);
    assert.equal(trusted(""), false);
    const cgnat = trustedProxies(["100.64.0.0/10"]);
    assert.equal(cgnat(["100.127.255.255", 1]), true);
    assert.equal(cgnat(["100.128.0.0", 1]), false);
    assert.equal(trustedProxies(null)(["203.0.113.1", 1]), true);
  });

  test("malformed entries are refused with what is allowed", () => {
    assert.throws(() => trustedProxies(["10.0.0.0/33"]), RangeError);
    assert.throws(() => trustedProxies(["::/129"]), RangeError);
    assert.throws(() => trustedProxies(["10.0.0/8"]), /is not a CIDR/);
    assert.throws(() => trustedProxies(["localhost"]), TypeError);
    assert.throws(() => trustedProxies("10.0.0.0/8" as unknown as string[]), TypeError);
  });
});

// ---- property tests ----

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((parts) => parts.join("."));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((raw) => formatIPv6(raw));
const port = fc.nat(65535);
const unixPath = fc.string({ minLength: 1, maxLength: 100, unit: fc.constantFrom(..."/abcxyz._-0123456789") });
const shortText = fc.string({ maxLength: 40 });

const inet = (host: fc.Arbitrary<string>) => fc.tuple(host, port).map(([h, p]) => [h, p] as const);

const v1Init: fc.Arbitrary<ProxyHeaderInit> = fc.oneof(
  fc.record({ version: fc.constant(1 as const), source: inet(ipv4), destination: inet(ipv4) }),
  fc.record({ version: fc.constant(1 as const), source: inet(ipv6), destination: inet(ipv6) }),
  fc.constant({ version: 1 as const }),
);

const v2Addresses: fc.Arbitrary<Pick<ProxyHeaderInit, "protocol" | "source" | "destination">> = fc.oneof(
  fc.record({
    protocol: fc.constantFrom<ProxyTransportProtocol>("TCP4", "UDP4"),
    source: inet(ipv4),
    destination: inet(ipv4),
  }),
  fc.record({
    protocol: fc.constantFrom<ProxyTransportProtocol>("TCP6", "UDP6"),
    source: inet(ipv6),
    destination: inet(ipv6),
  }),
  fc.record({
    protocol: fc.constantFrom<ProxyTransportProtocol>("UNIX_STREAM", "UNIX_DGRAM"),
    source: unixPath,
    destination: unixPath,
  }),
  fc.constant({ protocol: "UNKNOWN" as const }),
);

const v2Init: fc.Arbitrary<ProxyHeaderInit> = fc.tuple(
  v2Addresses,
  fc.record({
    command: fc.constantFrom("PROXY" as const, "LOCAL" as const),
    alpn: shortText,
    authority: shortText,
    uniqueId: fc.uint8Array({ maxLength: 128 }),
    ssl: fc.record({
      client: fc.nat(255),
      verify: fc.nat(0xffffffff),
      version: shortText,
      cn: shortText,
      cipher: shortText,
    }, { requiredKeys: ["client", "verify"] }),
    netns: shortText,
    tlvs: fc.array(fc.record({ type: fc.integer({ min: 0xe0, max: 0xef }), value: fc.uint8Array({ maxLength: 30 }) }), {
      maxLength: 3,
    }),
    crc32c: fc.boolean(),
  }, { requiredKeys: ["command"] }),
).map(([addresses, rest]) => ({ version: 2 as const, ...addresses, ...rest }));

/** What the parsed header must say for an init. */
function expectedOf(init: ProxyHeaderInit): Partial<ProxyHeader> {
  const local = init.command === "LOCAL";
  const source = init.source;
  const protocol = init.protocol ??
    (source == null
      ? "UNKNOWN"
      : typeof source === "string"
      ? "UNIX_STREAM"
      : source[0].includes(":")
      ? "TCP6"
      : "TCP4");
  const named = protocol !== "UNKNOWN" && !local;
  const canonical = (address: ProxyHeaderInit["source"]) =>
    Array.isArray(address) && address[0].includes(":") ? [formatIPv6(parseIPv6(address[0])!), address[1]] : address;
  const expected: Record<string, unknown> = {
    version: init.version,
    command: local ? "LOCAL" : "PROXY",
    protocol: local && init.version === 1 ? "UNKNOWN" : protocol,
    source: named ? canonical(init.source) : null,
    destination: named ? canonical(init.destination) : null,
  };
  if (init.alpn !== undefined) expected.alpn = init.alpn;
  if (init.authority !== undefined) expected.authority = init.authority;
  if (init.uniqueId !== undefined) expected.uniqueId = init.uniqueId;
  if (init.netns !== undefined) expected.netns = init.netns;
  return expected;
}

/** Cut points, sorted, within `length`. */
const cutsOf = (length: number) =>
  fc.uniqueArray(fc.integer({ min: 0, max: length }), { maxLength: 6 }).map((cuts) => cuts.sort((a, b) => a - b));

describe("PROXY protocol properties", () => {
  test("encode → parse gives back what was encoded, v1 and v2 with TLVs", () => {
    fc.assert(
      fc.property(fc.oneof(v1Init, v2Init), (init) => {
        const encoded = encodeProxyHeader(init);
        const { header, rest } = parseProxyHeader(encoded, { maxTlvBytes: 65535 })!;
        assert.equal(rest.length, 0);
        expectHeader(header, expectedOf(init));
        assert.deepEqual(header.raw, encoded);
        if (init.ssl !== undefined) {
          assert.deepEqual(
            [header.ssl!.client, header.ssl!.verify, header.ssl!.version, header.ssl!.cn, header.ssl!.cipher],
            [init.ssl.client, init.ssl.verify, init.ssl.version, init.ssl.cn, init.ssl.cipher],
          );
        }
        if (init.crc32c) assert.equal(typeof header.crc32c, "number");
        for (const extra of init.tlvs ?? []) assert.ok(header.tlvs.some((tlv) => tlv.type === extra.type));
      }),
      { numRuns: 500 },
    );
  });

  test("any split of header and data gives the result of one chunk", () => {
    const input = fc.tuple(fc.oneof(v1Init, v2Init), fc.uint8Array({ maxLength: 40 })).map(([init, data]) =>
      join(encodeProxyHeader(init), data)
    );
    fc.assert(
      fc.property(input.chain((bytes) => fc.tuple(fc.constant(bytes), cutsOf(bytes.length))), ([input, cuts]) => {
        const options = { maxTlvBytes: 65535 };
        const whole = parseProxyHeader(input, options);
        assert.ok(whole !== null);
        assert.deepEqual(parsePieces(input, cuts, options), whole);
      }),
      { numRuns: 500 },
    );
  });

  test("corrupt input fails with ProxyProtocolError, never another exception", () => {
    const valid = fc.oneof(v1Init, v2Init).map((init) => encodeProxyHeader(init));
    const corrupted = fc.oneof(
      // Bytes changed at random places.
      fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 })).map(
        ([bytes, edits]) => {
          const copy = bytes.slice();
          for (const [at, value] of edits) copy[at % copy.length] = value;
          return copy;
        },
      ),
      // Cut short, or with bytes inserted.
      fc.tuple(valid, fc.nat(), fc.uint8Array({ maxLength: 8 })).map(([bytes, at, inserted]) =>
        join(bytes.subarray(0, at % (bytes.length + 1)), inserted, bytes.subarray(at % (bytes.length + 1)))
      ),
      // Anything at all, and anything after a valid signature.
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }).map((tail) => join(hex(SIGNATURE), tail)),
      fc.string({ maxLength: 120 }).map((tail) => bytes(`PROXY ${tail}`)),
    );
    fc.assert(
      fc.property(corrupted, fc.nat(400), (input, cut) => {
        const parser = new ProxyHeaderParser({ maxTlvBytes: 65535 });
        try {
          const at = cut % (input.length + 1);
          if (parser.push(input.subarray(0, at)) === null) parser.push(input.subarray(at));
        } catch (error) {
          if (!(error instanceof ProxyProtocolError)) throw error;
          assert.ok(error.message.length > 0);
        }
      }),
      { numRuns: 3000 },
    );
  });

  test("with CRC32C, a changed address or TLV value byte is always refused", () => {
    const withCrc = v2Init.filter((init) => init.command === "PROXY" && init.protocol !== "UNKNOWN").map((init) =>
      encodeProxyHeader({ ...init, crc32c: true })
    );
    fc.assert(
      fc.property(withCrc, fc.nat(), fc.integer({ min: 1, max: 255 }), (header, at, change) => {
        const { header: parsed } = parseProxyHeader(header, { maxTlvBytes: 65535 })!;
        // Positions of structure-free bytes: the address block and the TLV values (not types or lengths).
        const free: number[] = [];
        const addressEnd =
          16 + ({ TCP4: 12, UDP4: 12, TCP6: 36, UDP6: 36 } as Record<string, number>)[parsed.protocol] ||
          16 + 216;
        for (let i = 16; i < addressEnd; i++) free.push(i);
        let offset = addressEnd;
        for (const tlv of parsed.tlvs) {
          for (let i = 0; i < tlv.value.length; i++) free.push(offset + 3 + i);
          offset += 3 + tlv.value.length;
        }
        const damaged = header.slice();
        damaged[free[at % free.length]] ^= change;
        assert.throws(() => parseProxyHeader(damaged, { maxTlvBytes: 65535 }), { code: "bad-crc32c" });
      }),
      { numRuns: 500 },
    );
  });
});
