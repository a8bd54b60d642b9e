/**
 * PROXY protocol v1, the text line: `PROXY TCP4|TCP6|UNKNOWN SOURCE DESTINATION SOURCE_PORT DESTINATION_PORT\r\n`.
 *
 * @module
 */
import { copyOut } from "../byte_pool.ts";
import { ProxyProtocolError } from "./errors.ts";
import type { ProxyHeader } from "./header.ts";
import { formatIPv6, isIPv4, parseIPv6 } from "./ip.ts";
import type { CheckedParseOptions, ProxyExamination } from "./parser.ts";
import { badSignature, notAllowed } from "./refusals.ts";

/** Longest v1 line, CRLF included. */
export const V1_MAX_LENGTH = 107;
/** The 6 bytes every v1 line starts with: `PROXY `. */
export const V1_PREFIX: Uint8Array = Uint8Array.of(0x50, 0x52, 0x4f, 0x58, 0x59, 0x20);

const CR = 0x0d;
const LF = 0x0a;
const PORT = /^(0|[1-9]\d{0,4})$/;

export function examineV1(bytes: Uint8Array, options: CheckedParseOptions): ProxyExamination {
  const prefix = Math.min(bytes.length, V1_PREFIX.length);
  for (let i = 0; i < prefix; i++) {
    if (bytes[i] === V1_PREFIX[i]) continue;
    if (i < 5) throw badSignature(bytes);
    throw badLine(`"PROXY" must be followed by one space, got byte 0x${bytes[i].toString(16).padStart(2, "0")}`);
  }
  if (bytes.length >= 5 && !options.v1) throw notAllowed("v1", options);
  const limit = Math.min(bytes.length, V1_MAX_LENGTH);
  let end = -1;
  for (let i = 0; i < limit; i++) {
    const byte = bytes[i];
    if (byte === LF) {
      if (i === 0 || bytes[i - 1] !== CR) throw badLine("a line feed without a carriage return before it");
      end = i + 1;
      break;
    }
    // Other bytes are checked with the fields: an UNKNOWN line's rest is to be ignored, whatever it holds.
    if (byte === CR && i + 1 < bytes.length && bytes[i + 1] !== LF) {
      throw badLine("a carriage return not followed by a line feed");
    }
  }
  if (end < 0) {
    if (bytes.length >= V1_MAX_LENGTH) {
      throw new ProxyProtocolError(
        "line-too-long",
        `no CRLF within the first ${V1_MAX_LENGTH} bytes: a PROXY protocol v1 line is at most ${V1_MAX_LENGTH} bytes`,
      );
    }
    return { need: V1_MAX_LENGTH, line: true };
  }
  const raw = copyOut(bytes, end);
  // The common line (what HAProxy and nginx send for IPv4 clients) is read from the bytes, with no string to split.
  const tcp4 = readTcp4Line(bytes, end, raw);
  if (tcp4 !== null) return { header: tcp4, length: end };
  // apply() takes the array as it is; spreading it would go through its iterator.
  const line = String.fromCharCode.apply(null, bytes.subarray(V1_PREFIX.length, end - 2) as unknown as number[]);
  return { header: parseV1Line(line, raw), length: end };
}

const TCP4_FIELD = Uint8Array.of(0x54, 0x43, 0x50, 0x34, 0x20); // "TCP4 "
const SPACE = 0x20;
const DIGIT_0 = 0x30;
/** Octets (or a port) and where the field ended, written by the readers below: no object per field. */
const FIELD = new Int32Array(5);

/**
 * A `PROXY TCP4 SOURCE DESTINATION SOURCE_PORT DESTINATION_PORT` line that is well formed, read from its bytes; `null`
 * for any other line, which `parseV1Line` then reads (and refuses with the reason, when it is malformed).
 */
function readTcp4Line(bytes: Uint8Array, end: number, raw: Uint8Array): ProxyHeader | null {
  let at = V1_PREFIX.length;
  for (let i = 0; i < TCP4_FIELD.length; i++) if (bytes[at + i] !== TCP4_FIELD[i]) return null;
  at += TCP4_FIELD.length;
  const lineEnd = end - 2;
  if ((at = readOctets(bytes, at, lineEnd)) < 0 || bytes[at++] !== SPACE) return null;
  const source = SOURCE.text();
  if ((at = readOctets(bytes, at, lineEnd)) < 0 || bytes[at++] !== SPACE) return null;
  const destination = DESTINATION.text();
  if ((at = readNumber(bytes, at, lineEnd, 65535)) < 0 || bytes[at++] !== SPACE) return null;
  const sourcePort = FIELD[4];
  if ((at = readNumber(bytes, at, lineEnd, 65535)) !== lineEnd) return null;
  return {
    version: 1,
    command: "PROXY",
    protocol: "TCP4",
    source: [source, sourcePort],
    destination: [destination, FIELD[4]],
    tlvs: [],
    raw,
  };
}

/**
 * The text of the address last read into `FIELD[0..3]`, made again only when it differs from the one before: the
 * destination of a balancer's headers is nearly always the same, and so, often, is a source.
 */
class LastAddress {
  #octets = -1;
  #text = "";

  text(): string {
    const octets = ((FIELD[0] << 24) | (FIELD[1] << 16) | (FIELD[2] << 8) | FIELD[3]) >>> 0;
    if (octets !== this.#octets) {
      this.#octets = octets;
      this.#text = `${FIELD[0]}.${FIELD[1]}.${FIELD[2]}.${FIELD[3]}`;
    }
    return this.#text;
  }
}

const SOURCE = new LastAddress();
const DESTINATION = new LastAddress();

/** Reads a dotted IPv4 literal (no leading zeros) into `FIELD[0..3]`; where it ended, or -1. */
function readOctets(bytes: Uint8Array, at: number, limit: number): number {
  for (let part = 0; part < 4; part++) {
    if (part > 0 && bytes[at++] !== 0x2e) return -1; // "."
    if ((at = readNumber(bytes, at, limit, 255)) < 0) return -1;
    FIELD[part] = FIELD[4];
  }
  return at;
}

/** Reads a decimal number up to `max` (no leading zeros) into `FIELD[4]`; where it ended, or -1. */
function readNumber(bytes: Uint8Array, at: number, limit: number, max: number): number {
  const start = at;
  let value = 0;
  while (at < limit) {
    const digit = bytes[at] - DIGIT_0;
    if (digit < 0 || digit > 9) break;
    if (at > start && value === 0) return -1; // a leading zero
    value = value * 10 + digit;
    if (value > max) return -1;
    at++;
  }
  if (at === start) return -1;
  FIELD[4] = value;
  return at;
}

function parseV1Line(line: string, raw: Uint8Array): ProxyHeader {
  if (line === "UNKNOWN" || line.startsWith("UNKNOWN ")) {
    // The spec: the rest of the line is to be ignored, and the socket's own addresses used.
    return { version: 1, command: "PROXY", protocol: "UNKNOWN", source: null, destination: null, tlvs: [], raw };
  }
  const fields = line.split(" ");
  const protocol = fields[0];
  if (protocol !== "TCP4" && protocol !== "TCP6") {
    throw new ProxyProtocolError(
      "bad-family",
      `PROXY protocol v1 names protocol ${JSON.stringify(protocol)}; only TCP4, TCP6 and UNKNOWN exist`,
    );
  }
  if (fields.length !== 5 || fields.some((field) => field === "")) {
    throw badLine(
      `expected "PROXY ${protocol} SOURCE DESTINATION SOURCE_PORT DESTINATION_PORT" with single spaces, got ${
        JSON.stringify(`PROXY ${line}`)
      }`,
    );
  }
  const [, sourceHost, destinationHost, sourcePort, destinationPort] = fields;
  const host = (text: string, what: string): string => {
    // A valid dotted IPv4 literal (no leading zeros) is already in canonical form; IPv6 is written anew (RFC 5952).
    if (protocol === "TCP4") {
      if (isIPv4(text)) return text;
    } else {
      const parsed = parseIPv6(text);
      if (parsed !== null) return formatIPv6(parsed);
    }
    throw badLine(
      `${what} ${JSON.stringify(text)} is not ${
        protocol === "TCP4" ? "a dotted IPv4 address (no leading zeros)" : "an IPv6 address"
      }`,
    );
  };
  const port = (text: string, what: string): number => {
    const value = PORT.test(text) ? Number(text) : NaN;
    if (!(value <= 65535)) throw badLine(`${what} ${JSON.stringify(text)} is not a port 0-65535 without leading zeros`);
    return value;
  };
  return {
    version: 1,
    command: "PROXY",
    protocol,
    source: [host(sourceHost, "source address"), port(sourcePort, "source port")],
    destination: [host(destinationHost, "destination address"), port(destinationPort, "destination port")],
    tlvs: [],
    raw,
  };
}

function badLine(what: string): ProxyProtocolError {
  return new ProxyProtocolError("bad-line", `malformed PROXY protocol v1 line: ${what}`);
}
