/**
 * The TLVs of a PROXY protocol v2 header: split, the CRC32C checked before anything is interpreted, the types the spec
 * names decoded.
 *
 * @module
 */
import { crc32c } from "./crc32c.ts";
import { ProxyProtocolError } from "./errors.ts";
import { PROXY_TLV, type ProxySslInfo, type ProxyTlv } from "./header.ts";

const MAX_UNIQUE_ID = 128;
const ZEROS = new Uint8Array(4);
const utf8 = new TextDecoder();

/** A copy of bytes `start` to `end` (never `slice()`: on a Node `Buffer` that is a view). */
export function copy(bytes: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(bytes.subarray(start, end));
}

/** The TLV fields of a header (see `ProxyHeader`). */
export interface TlvFields {
  tlvs: ProxyTlv[];
  alpn?: string;
  authority?: string;
  crc32c?: number;
  uniqueId?: Uint8Array;
  ssl?: ProxySslInfo;
  netns?: string;
}

function splitTlvs(bytes: Uint8Array, start: number, end: number, what: string): ProxyTlv[] {
  const tlvs: ProxyTlv[] = [];
  let offset = start;
  while (offset < end) {
    if (end - offset < 3) {
      throw new ProxyProtocolError(
        "bad-tlv",
        `${end - offset} stray bytes at the end of the ${what}: a TLV takes 3 or more`,
      );
    }
    const type = bytes[offset];
    const length = (bytes[offset + 1] << 8) | bytes[offset + 2];
    if (offset + 3 + length > end) {
      throw new ProxyProtocolError(
        "bad-tlv",
        `TLV 0x${type.toString(16).padStart(2, "0")} of ${length} bytes runs past the end of the ${what}`,
      );
    }
    tlvs.push({ type, value: copy(bytes, offset + 3, offset + 3 + length) });
    offset += 3 + length;
  }
  return tlvs;
}

/**
 * Splits and decodes the TLVs of `raw`, a whole v2 header, from `start`; checks the CRC32C first when there is one.
 *
 * @throws {ProxyProtocolError} `bad-tlv` for a malformed TLV, `bad-crc32c` for a checksum that does not match
 */
export function parseTlvs(raw: Uint8Array, start: number): TlvFields {
  const tlvs = splitTlvs(raw, start, raw.length, "PROXY protocol v2 header");
  const fields: TlvFields = { tlvs };
  // The checksum first: nothing in a damaged header is interpreted.
  let offset = start;
  for (const { type, value } of tlvs) {
    if (type === PROXY_TLV.CRC32C) {
      if (value.length !== 4) throw badTlv(`the CRC32C TLV is ${value.length} bytes long; it must be 4`);
      if (fields.crc32c !== undefined) throw badTlv("two CRC32C TLVs");
      fields.crc32c = checkCrc32c(raw, offset + 3, value);
    }
    offset += 3 + value.length;
  }
  for (const { type, value } of tlvs) {
    switch (type) {
      case PROXY_TLV.ALPN:
        fields.alpn = utf8.decode(value);
        break;
      case PROXY_TLV.AUTHORITY:
        fields.authority = utf8.decode(value);
        break;
      case PROXY_TLV.UNIQUE_ID:
        if (value.length > MAX_UNIQUE_ID) {
          throw badTlv(`the unique id TLV is ${value.length} bytes long; at most ${MAX_UNIQUE_ID} are allowed`);
        }
        fields.uniqueId = value;
        break;
      case PROXY_TLV.SSL:
        fields.ssl = parseSsl(value);
        break;
      case PROXY_TLV.NETNS:
        fields.netns = utf8.decode(value);
        break;
    }
  }
  return fields;
}

/** Checks the CRC32C whose 4 bytes are at `field`: of the header with that field zeroed. Returns it. */
function checkCrc32c(raw: Uint8Array, field: number, value: Uint8Array): number {
  const expected = ((value[0] << 24) | (value[1] << 16) | (value[2] << 8) | value[3]) >>> 0;
  // Computed in three spans rather than over a zeroed copy.
  const actual = crc32c(raw.subarray(field + 4), crc32c(ZEROS, crc32c(raw.subarray(0, field))));
  if (actual !== expected) {
    throw new ProxyProtocolError(
      "bad-crc32c",
      `the PROXY protocol v2 header's CRC32C is 0x${hex32(expected)}, but its bytes give 0x${hex32(actual)}`,
    );
  }
  return expected;
}

function parseSsl(value: Uint8Array): ProxySslInfo {
  if (value.length < 5) throw badTlv(`the SSL TLV is ${value.length} bytes long; it takes 5 or more`);
  const verify = ((value[1] << 24) | (value[2] << 16) | (value[3] << 8) | value[4]) >>> 0;
  const tlvs = splitTlvs(value, 5, value.length, "SSL TLV");
  const info: { -readonly [K in keyof ProxySslInfo]: ProxySslInfo[K] } = { client: value[0], verify, tlvs };
  for (const { type, value: sub } of tlvs) {
    const text = utf8.decode(sub);
    if (type === PROXY_TLV.SSL_VERSION) info.version = text;
    else if (type === PROXY_TLV.SSL_CN) info.cn = text;
    else if (type === PROXY_TLV.SSL_CIPHER) info.cipher = text;
    else if (type === PROXY_TLV.SSL_SIG_ALG) info.sigAlg = text;
    else if (type === PROXY_TLV.SSL_KEY_ALG) info.keyAlg = text;
  }
  return info;
}

function badTlv(what: string): ProxyProtocolError {
  return new ProxyProtocolError("bad-tlv", `malformed PROXY protocol v2 TLV: ${what}`);
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, "0");
}
