/**
 * Parsing PROXY protocol headers (v1 and v2, haproxy's doc/proxy-protocol.txt), strictly and incrementally: the
 * header may arrive in pieces, and what follows it in the same read is handed back untouched.
 *
 * @module
 */
import { copyOut } from "../byte_pool.ts";
import { concatBytes } from "../concat_bytes.ts";
import type { SocketAddress } from "../transport.ts";
import { ProxyProtocolError } from "./errors.ts";
import type { ProxyHeader, ProxyTransportProtocol, ProxyVersion } from "./header.ts";
import { formatIPv4, formatIPv6 } from "./ip.ts";
import { badSignature, notAllowed } from "./refusals.ts";
import { parseTlvs } from "./tlvs.ts";
import { examineV1, V1_PREFIX } from "./v1.ts";

/** The 12 bytes every v2 header starts with. */
export const V2_SIGNATURE: Uint8Array = Uint8Array.of(
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
);
export { V1_MAX_LENGTH } from "./v1.ts";
/** Shortest header of either version (`PROXY UNKNOWN\r\n`): reading this many bytes never reads past a header. */
export const MIN_HEADER_LENGTH = 15;
/** Default of {@link ProxyParseOptions.maxTlvBytes}. */
export const DEFAULT_MAX_TLV_BYTES = 4096;

/** Address block length of each v2 family: AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX. */
const ADDRESS_LENGTHS = [0, 12, 36, 216] as const;
const UNIX_PATH_BYTES = 108;
const utf8 = new TextDecoder();

/** What the parser accepts. */
export interface ProxyParseOptions {
  /** Versions accepted (default both). */
  readonly versions?: readonly ProxyVersion[] | "any";
  /** Most bytes of TLVs a v2 header may carry (default 4096); a longer header is refused before it is read. */
  readonly maxTlvBytes?: number;
}

/** A complete header, and the bytes that followed it in the input. */
export interface ProxyParseResult {
  /** The header. */
  readonly header: ProxyHeader;
  /** The bytes after the header (a view of the input; empty when none). */
  readonly rest: Uint8Array;
}

/**
 * What {@link examineProxyHeader} found: a complete header of `length` bytes, or how many bytes the header needs at
 * least (v2: exactly), counted from its start; `line` when it is a v1 line, which ends at its CRLF and at most at
 * `need` bytes, so that a reader reads a line rather than `need` bytes.
 */
export type ProxyExamination =
  | { readonly header: ProxyHeader; readonly length: number }
  | { readonly need: number; readonly line: boolean };

/** Parser options once checked (see {@link checkParseOptions}). */
export interface CheckedParseOptions {
  /** v1 accepted. */
  readonly v1: boolean;
  /** v2 accepted. */
  readonly v2: boolean;
  /** The TLV cap. */
  readonly maxTlvBytes: number;
}

const DEFAULTS: CheckedParseOptions = { v1: true, v2: true, maxTlvBytes: DEFAULT_MAX_TLV_BYTES };

/**
 * Checks parser options.
 *
 * @throws {TypeError} when `versions` is neither `"any"` nor a non-empty array of `"v1"` and `"v2"`
 * @throws {RangeError} when `maxTlvBytes` is not an integer 0–65535
 */
export function checkParseOptions(options: ProxyParseOptions = {}): CheckedParseOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError(`PROXY protocol options must be an object, got ${options === null ? "null" : typeof options}`);
  }
  const versions = options.versions ?? "any";
  let v1 = true, v2 = true;
  if (versions !== "any") {
    if (
      !Array.isArray(versions) || versions.length === 0 ||
      !versions.every((version) => version === "v1" || version === "v2")
    ) {
      throw new TypeError(
        `versions must be "any" or a non-empty array of "v1" and "v2", got ${JSON.stringify(versions)}`,
      );
    }
    v1 = versions.includes("v1");
    v2 = versions.includes("v2");
  }
  const maxTlvBytes = options.maxTlvBytes ?? DEFAULT_MAX_TLV_BYTES;
  if (!Number.isInteger(maxTlvBytes) || maxTlvBytes < 0 || maxTlvBytes > 65535) {
    throw new RangeError(`maxTlvBytes must be an integer 0-65535, got ${maxTlvBytes}`);
  }
  return { v1, v2, maxTlvBytes };
}

/**
 * Looks at the first bytes of a connection: a complete header, or how many bytes are needed to know more. Refuses as
 * soon as the bytes cannot begin a valid header (a wrong first byte is refused at once), but never takes a prefix
 * for a whole header.
 *
 * @throws {ProxyProtocolError} when the bytes are not the start of a valid, accepted header
 */
export function examineProxyHeader(bytes: Uint8Array, options?: ProxyParseOptions): ProxyExamination {
  return examineWith(bytes, options === undefined ? DEFAULTS : checkParseOptions(options));
}

/** {@link examineProxyHeader} with options checked beforehand, for callers that examine again and again. */
export function examineWith(bytes: Uint8Array, checked: CheckedParseOptions): ProxyExamination {
  if (bytes.length === 0) return { need: MIN_HEADER_LENGTH, line: false };
  if (bytes[0] === V1_PREFIX[0]) return examineV1(bytes, checked);
  if (bytes[0] === V2_SIGNATURE[0]) return examineV2(bytes, checked);
  throw badSignature(bytes);
}

/**
 * Parses a header at the start of `bytes`: the header and the bytes after it, or `null` when `bytes` holds only the
 * start of a header (feed more with {@link ProxyHeaderParser} instead).
 *
 * @example Parsing what HAProxy's `send-proxy` sends
 * ```ts
 * import { parseProxyHeader } from "@sockserve/sockserve";
 *
 * const bytes = new TextEncoder().encode("PROXY TCP4 192.0.2.7 127.0.0.1 35658 24080\r\nhello\n");
 * const { header, rest } = parseProxyHeader(bytes)!;
 * console.log(header.source, new TextDecoder().decode(rest)); // ["192.0.2.7", 35658] "hello\n"
 * ```
 *
 * @throws {ProxyProtocolError} when the bytes do not start with a valid, accepted header
 */
export function parseProxyHeader(bytes: Uint8Array, options?: ProxyParseOptions): ProxyParseResult | null {
  const found = examineProxyHeader(bytes, options);
  if (!("header" in found)) return null;
  return { header: found.header, rest: bytes.subarray(found.length) };
}

/**
 * An incremental parser: push the bytes of a connection as they arrive until it returns the header. It keeps only
 * the bytes of the header (at most 16 + 216 + `maxTlvBytes`), and looks at them again only once enough arrived.
 *
 * @example Chunks as a socket delivers them
 * ```ts
 * import { ProxyHeaderParser } from "@sockserve/sockserve";
 *
 * const parser = new ProxyHeaderParser({ versions: ["v1"] });
 * const line = new TextEncoder().encode("PROXY TCP6 2001:db8::1 ::1 5000 443\r\nGET /");
 * console.log(parser.push(line.subarray(0, 10))); // null: not yet
 * const done = parser.push(line.subarray(10))!;
 * console.log(done.header.source, done.rest.length); // ["2001:db8::1", 5000] 5
 * ```
 */
export class ProxyHeaderParser {
  #options: CheckedParseOptions;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #need = 1;
  #result: ProxyParseResult | null = null;

  /**
   * Makes a parser that has seen nothing yet.
   *
   * @param options versions accepted and the TLV cap
   */
  constructor(options: ProxyParseOptions = {}) {
    this.#options = checkParseOptions(options);
  }

  /** Bytes held, waiting for the rest of the header. */
  get buffered(): number {
    return this.#size;
  }

  /**
   * Adds bytes. Returns the header and the bytes after it once it is complete, or `null` while more are needed. Once
   * complete, every later call returns the same header, with `rest` the new chunk (all of it comes after the header).
   *
   * @throws {ProxyProtocolError} as soon as the bytes cannot be a valid header
   */
  push(chunk: Uint8Array): ProxyParseResult | null {
    if (this.#result !== null) return { header: this.#result.header, rest: chunk };
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#size += chunk.length;
    }
    if (this.#size < this.#need) return null;
    const bytes = this.#chunks.length === 1 ? this.#chunks[0] : concatBytes(this.#chunks, this.#size);
    this.#chunks = [bytes];
    const found = examineWith(bytes, this.#options);
    if ("header" in found) {
      this.#result = { header: found.header, rest: bytes.subarray(found.length) };
      this.#chunks = [];
      return this.#result;
    }
    this.#need = found.line ? this.#size + 1 : found.need;
    return null;
  }

  /**
   * The input ended: checks that a whole header came.
   *
   * @throws {ProxyProtocolError} `closed` when nothing arrived, `truncated` when the header is incomplete
   */
  end(): void {
    if (this.#result === null) throw endedEarly(this.#size);
  }
}

/** The error for a connection that ended after `received` bytes of an incomplete header. */
export function endedEarly(received: number, cause?: unknown): ProxyProtocolError {
  if (received === 0) {
    return new ProxyProtocolError("closed", "the connection closed before sending a PROXY protocol header", { cause });
  }
  return new ProxyProtocolError(
    "truncated",
    `the connection closed after ${received} bytes of an incomplete PROXY protocol header`,
    { cause },
  );
}

// ---- v2 ----

function examineV2(bytes: Uint8Array, options: CheckedParseOptions): ProxyExamination {
  const prefix = Math.min(bytes.length, V2_SIGNATURE.length);
  for (let i = 0; i < prefix; i++) if (bytes[i] !== V2_SIGNATURE[i]) throw badSignature(bytes);
  if (bytes.length < 16) return { need: 16, line: false };
  const version = bytes[12] >> 4;
  const command = bytes[12] & 0x0f;
  if (version !== 2) {
    throw new ProxyProtocolError(
      "bad-version",
      `the PROXY protocol v2 signature is followed by version ${version} (byte 0x${
        bytes[12].toString(16).padStart(2, "0")
      }); only version 2 exists`,
    );
  }
  if (!options.v2) throw notAllowed("v2", options);
  if (command > 1) {
    throw new ProxyProtocolError("bad-command", `PROXY protocol v2 command ${command}: only 0 (LOCAL) and 1 (PROXY)`);
  }
  const family = bytes[13] >> 4;
  const transport = bytes[13] & 0x0f;
  const knownFamily = family <= 3 && transport <= 2;
  const length = (bytes[14] << 8) | bytes[15];
  // LOCAL: the family is to be ignored; an unknown one leaves the whole block unread.
  if (!knownFamily && command === 1) {
    throw new ProxyProtocolError(
      "bad-family",
      `PROXY protocol v2 address family byte 0x${bytes[13].toString(16).padStart(2, "0")}: the family must be 0-3 ` +
        "(UNSPEC, INET, INET6, UNIX) and the transport 0-2 (UNSPEC, STREAM, DGRAM)",
    );
  }
  const addressLength = knownFamily ? ADDRESS_LENGTHS[family] : length;
  if (length < addressLength) {
    throw new ProxyProtocolError(
      "bad-length",
      `PROXY protocol v2 length ${length} is shorter than the ${addressLength} bytes of its address family`,
    );
  }
  const tlvBytes = length - addressLength;
  if (tlvBytes > options.maxTlvBytes) {
    throw new ProxyProtocolError(
      "tlv-too-large",
      `the PROXY protocol v2 header carries ${tlvBytes} bytes of TLVs; this server allows at most ${options.maxTlvBytes}`,
    );
  }
  const total = 16 + length;
  if (bytes.length < total) return { need: total, line: false };
  const raw = copyOut(bytes, total);
  const protocol = knownFamily ? protocolOf(family, transport) : "UNKNOWN";
  let source: SocketAddress | null = null;
  let destination: SocketAddress | null = null;
  if (command === 1) [source, destination] = addressesOf(raw, family);
  const fields = knownFamily ? parseTlvs(raw, 16 + addressLength) : { tlvs: [] };
  return {
    header: {
      version: 2,
      command: command === 1 ? "PROXY" : "LOCAL",
      protocol,
      source,
      destination,
      ...fields,
      raw,
    },
    length: total,
  };
}

function protocolOf(family: number, transport: number): ProxyTransportProtocol {
  if (family === 0 || transport === 0) return "UNKNOWN";
  const stream = transport === 1;
  if (family === 1) return stream ? "TCP4" : "UDP4";
  if (family === 2) return stream ? "TCP6" : "UDP6";
  return stream ? "UNIX_STREAM" : "UNIX_DGRAM";
}

function addressesOf(raw: Uint8Array, family: number): [SocketAddress | null, SocketAddress | null] {
  const port = (offset: number) => (raw[offset] << 8) | raw[offset + 1];
  if (family === 1) return [[formatIPv4(raw, 16), port(24)], [formatIPv4(raw, 20), port(26)]];
  if (family === 2) return [[formatIPv6(raw, 16), port(48)], [formatIPv6(raw, 32), port(50)]];
  if (family === 3) return [unixPath(raw, 16), unixPath(raw, 16 + UNIX_PATH_BYTES)];
  return [null, null];
}

function unixPath(raw: Uint8Array, offset: number): string {
  const field = raw.subarray(offset, offset + UNIX_PATH_BYTES);
  const end = field.indexOf(0);
  return utf8.decode(end < 0 ? field : field.subarray(0, end));
}
