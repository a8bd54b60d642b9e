/**
 * Writing PROXY protocol headers, v1 and v2 with TLVs: for clients and proxies written with this library, and tests.
 *
 * @module
 */
import type { SocketAddress } from "../transport.ts";
import { crc32c } from "./crc32c.ts";
import { PROXY_TLV, type ProxySslInfo, type ProxyTlv, type ProxyTransportProtocol } from "./header.ts";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "./ip.ts";
import { V2_SIGNATURE } from "./parser.ts";

const encoder = new TextEncoder();

/** The `PP2_TYPE_SSL` TLV to send: what the parser gives, its sub-TLVs aside. */
export type ProxySslInit = Omit<ProxySslInfo, "tlvs">;

/** What {@link encodeProxyHeader} writes. */
export interface ProxyHeaderInit {
  /** 1 (text line) or 2 (binary). */
  readonly version: 1 | 2;
  /** v2: `"PROXY"` (default) or `"LOCAL"` (a health check: no addresses). v1 writes LOCAL as `PROXY UNKNOWN`. */
  readonly command?: "PROXY" | "LOCAL";
  /**
   * The protocol; by default taken from `source`: TCP4 or TCP6 for `[host, port]`, UNIX_STREAM for a path, UNKNOWN
   * when there is no source.
   */
  readonly protocol?: ProxyTransportProtocol;
  /** The client. */
  readonly source?: SocketAddress | null;
  /** Where the client connected to. */
  readonly destination?: SocketAddress | null;
  /** v2 `PP2_TYPE_ALPN`. */
  readonly alpn?: string;
  /** v2 `PP2_TYPE_AUTHORITY`. */
  readonly authority?: string;
  /** v2 `PP2_TYPE_UNIQUE_ID` (at most 128 bytes). */
  readonly uniqueId?: Uint8Array | string;
  /** v2 `PP2_TYPE_SSL`. */
  readonly ssl?: ProxySslInit;
  /** v2 `PP2_TYPE_NETNS`. */
  readonly netns?: string;
  /** v2: more TLVs, written after the ones above. */
  readonly tlvs?: readonly ProxyTlv[];
  /** v2: end with a `PP2_TYPE_CRC32C` TLV checksumming the header (as HAProxy's `proxy-v2-options crc32c`). */
  readonly crc32c?: boolean;
}

/**
 * Writes a PROXY protocol header. v1 carries addresses only; v2 carries TLVs too.
 *
 * @example The header a proxy sends before relaying a client's bytes
 * ```ts
 * import { encodeProxyHeader } from "@sockserve/sockserve";
 *
 * const header = encodeProxyHeader({
 *   version: 2,
 *   source: ["203.0.113.9", 51234],
 *   destination: ["10.0.0.5", 443],
 *   authority: "example.com",
 *   crc32c: true,
 * });
 * // socket.write(header), then the client's bytes
 * ```
 *
 * @throws {TypeError} when addresses do not fit the protocol, or v1 is asked for TLVs or a protocol it lacks
 * @throws {RangeError} when a port is outside 0–65535, a unix path over 108 bytes, or the header over 65 551 bytes
 */
export function encodeProxyHeader(init: ProxyHeaderInit): Uint8Array {
  if (init === null || typeof init !== "object") throw new TypeError("encodeProxyHeader() takes an options object");
  if (init.version === 1) return encodeV1(init);
  if (init.version === 2) return encodeV2(init);
  throw new TypeError(`version must be 1 or 2, got ${JSON.stringify(init.version)}`);
}

function protocolOf(init: ProxyHeaderInit): ProxyTransportProtocol {
  if (init.protocol !== undefined) return init.protocol;
  const source = init.source;
  if (source === null || source === undefined) return "UNKNOWN";
  if (typeof source === "string") return "UNIX_STREAM";
  return parseIPv4(source[0]) !== null ? "TCP4" : "TCP6";
}

function inetOf(address: SocketAddress | null | undefined, family: 4 | 6, what: string): [Uint8Array, number] {
  if (!Array.isArray(address) || address.length !== 2) {
    throw new TypeError(
      `${what} must be a [host, port] pair for an IPv${family} protocol, got ${JSON.stringify(address)}`,
    );
  }
  const [host, port] = address;
  const bytes = typeof host === "string" ? (family === 4 ? parseIPv4(host) : parseIPv6(host)) : null;
  if (bytes === null) throw new TypeError(`${what}: ${JSON.stringify(host)} is not an IPv${family} address`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`${what}: port must be an integer 0-65535, got ${port}`);
  }
  return [bytes, port];
}

const V1_FAMILY = { TCP4: 4, TCP6: 6 } as const;

function encodeV1(init: ProxyHeaderInit): Uint8Array {
  const v2Only = ["alpn", "authority", "uniqueId", "ssl", "netns", "tlvs", "crc32c"] as const;
  const extra = v2Only.find((key) => init[key] !== undefined && init[key] !== false);
  if (extra !== undefined) throw new TypeError(`PROXY protocol v1 carries no TLVs: ${extra} needs version 2`);
  const protocol = init.command === "LOCAL" ? "UNKNOWN" : protocolOf(init);
  if (protocol === "UNKNOWN") return encoder.encode("PROXY UNKNOWN\r\n");
  if (protocol !== "TCP4" && protocol !== "TCP6") {
    throw new TypeError(`PROXY protocol v1 has TCP4, TCP6 and UNKNOWN only, not ${protocol}: use version 2`);
  }
  const family = V1_FAMILY[protocol];
  // Through bytes and back: the line has the canonical form, whichever form the caller wrote.
  const format = family === 4 ? formatIPv4 : formatIPv6;
  const [sourceBytes, sourcePort] = inetOf(init.source, family, "source");
  const [destinationBytes, destinationPort] = inetOf(init.destination, family, "destination");
  return encoder.encode(
    `PROXY ${protocol} ${format(sourceBytes)} ${format(destinationBytes)} ${sourcePort} ${destinationPort}\r\n`,
  );
}

const FAMILY_BYTE: Record<ProxyTransportProtocol, number> = {
  UNKNOWN: 0x00,
  TCP4: 0x11,
  UDP4: 0x12,
  TCP6: 0x21,
  UDP6: 0x22,
  UNIX_STREAM: 0x31,
  UNIX_DGRAM: 0x32,
};

function encodeV2(init: ProxyHeaderInit): Uint8Array {
  const local = init.command === "LOCAL";
  if (init.command !== undefined && init.command !== "PROXY" && !local) {
    throw new TypeError(`command must be "PROXY" or "LOCAL", got ${JSON.stringify(init.command)}`);
  }
  const protocol = local && init.protocol === undefined ? "UNKNOWN" : protocolOf(init);
  const familyByte = FAMILY_BYTE[protocol];
  if (familyByte === undefined) throw new TypeError(`unknown protocol ${JSON.stringify(protocol)}`);
  const parts: Uint8Array[] = [addressBlock(init, protocol, local)];
  const text = (type: number, value: string | undefined) => {
    if (value !== undefined) parts.push(tlv(type, encoder.encode(value)));
  };
  text(PROXY_TLV.ALPN, init.alpn);
  text(PROXY_TLV.AUTHORITY, init.authority);
  if (init.uniqueId !== undefined) {
    const id = typeof init.uniqueId === "string" ? encoder.encode(init.uniqueId) : init.uniqueId;
    if (id.length > 128) throw new RangeError(`uniqueId is ${id.length} bytes long; at most 128 are allowed`);
    parts.push(tlv(PROXY_TLV.UNIQUE_ID, id));
  }
  if (init.ssl !== undefined) parts.push(tlv(PROXY_TLV.SSL, sslValue(init.ssl)));
  text(PROXY_TLV.NETNS, init.netns);
  for (const extra of init.tlvs ?? []) parts.push(tlv(extra.type, extra.value));
  const crcAt = init.crc32c ? 16 + parts.reduce((sum, part) => sum + part.length, 0) + 3 : -1;
  if (init.crc32c) parts.push(tlv(PROXY_TLV.CRC32C, new Uint8Array(4)));
  const length = parts.reduce((sum, part) => sum + part.length, 0);
  if (length > 65535) throw new RangeError(`the header would be ${16 + length} bytes long; at most 65551 are allowed`);
  const header = new Uint8Array(16 + length);
  header.set(V2_SIGNATURE);
  header[12] = local ? 0x20 : 0x21;
  header[13] = familyByte;
  header[14] = length >> 8;
  header[15] = length & 0xff;
  let offset = 16;
  for (const part of parts) {
    header.set(part, offset);
    offset += part.length;
  }
  if (crcAt >= 0) new DataView(header.buffer).setUint32(crcAt, crc32c(header));
  return header;
}

function addressBlock(init: ProxyHeaderInit, protocol: ProxyTransportProtocol, local: boolean): Uint8Array {
  if (protocol === "UNKNOWN") return new Uint8Array(0);
  if (protocol === "UNIX_STREAM" || protocol === "UNIX_DGRAM") {
    const block = new Uint8Array(216);
    const put = (address: SocketAddress | null | undefined, offset: number, what: string) => {
      if (address === undefined || address === null) {
        if (local) return;
        throw new TypeError(`${what} must be a unix path for ${protocol}`);
      }
      if (typeof address !== "string") throw new TypeError(`${what} must be a unix path for ${protocol}`);
      const path = encoder.encode(address);
      if (path.length > 108) throw new RangeError(`${what} is ${path.length} bytes long; at most 108 fit`);
      block.set(path, offset);
    };
    put(init.source, 0, "source");
    put(init.destination, 108, "destination");
    return block;
  }
  const family = protocol === "TCP4" || protocol === "UDP4" ? 4 : 6;
  const size = family === 4 ? 4 : 16;
  const block = new Uint8Array(size * 2 + 4);
  if (local && init.source == null && init.destination == null) return block;
  const [sourceBytes, sourcePort] = inetOf(init.source, family, "source");
  const [destinationBytes, destinationPort] = inetOf(init.destination, family, "destination");
  block.set(sourceBytes, 0);
  block.set(destinationBytes, size);
  const view = new DataView(block.buffer);
  view.setUint16(size * 2, sourcePort);
  view.setUint16(size * 2 + 2, destinationPort);
  return block;
}

function sslValue(ssl: ProxySslInit): Uint8Array {
  if (!Number.isInteger(ssl.client) || ssl.client < 0 || ssl.client > 255) {
    throw new RangeError(`ssl.client must be a byte 0-255, got ${ssl.client}`);
  }
  if (!Number.isInteger(ssl.verify) || ssl.verify < 0 || ssl.verify > 0xffffffff) {
    throw new RangeError(`ssl.verify must be an unsigned 32-bit integer, got ${ssl.verify}`);
  }
  const parts: Uint8Array[] = [];
  const sub = (type: number, value: string | undefined) => {
    if (value !== undefined) parts.push(tlv(type, encoder.encode(value)));
  };
  sub(PROXY_TLV.SSL_VERSION, ssl.version);
  sub(PROXY_TLV.SSL_CN, ssl.cn);
  sub(PROXY_TLV.SSL_CIPHER, ssl.cipher);
  sub(PROXY_TLV.SSL_SIG_ALG, ssl.sigAlg);
  sub(PROXY_TLV.SSL_KEY_ALG, ssl.keyAlg);
  const value = new Uint8Array(5 + parts.reduce((sum, part) => sum + part.length, 0));
  value[0] = ssl.client;
  new DataView(value.buffer).setUint32(1, ssl.verify);
  let offset = 5;
  for (const part of parts) {
    value.set(part, offset);
    offset += part.length;
  }
  return value;
}

function tlv(type: number, value: Uint8Array): Uint8Array {
  if (!Number.isInteger(type) || type < 0 || type > 255) {
    throw new RangeError(`a TLV type is a byte 0-255, got ${type}`);
  }
  if (value.length > 65535) throw new RangeError(`a TLV value is at most 65535 bytes, got ${value.length}`);
  const bytes = new Uint8Array(3 + value.length);
  bytes[0] = type;
  bytes[1] = value.length >> 8;
  bytes[2] = value.length & 0xff;
  bytes.set(value, 3);
  return bytes;
}
