/**
 * CRC32C (Castagnoli): the checksum of the PROXY protocol v2 `PP2_TYPE_CRC32C` TLV.
 *
 * @module
 */

/** The reflected Castagnoli polynomial. */
const POLYNOMIAL = 0x82f63b78;

/** Eight 256-entry tables ("slicing by 8"): eight bytes per step, about 1 GB/s in JavaScript engines. */
const TABLES: Uint32Array = (() => {
  const tables = new Uint32Array(8 * 256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL : crc >>> 1;
    tables[byte] = crc;
  }
  for (let byte = 0; byte < 256; byte++) {
    let crc = tables[byte];
    for (let table = 1; table < 8; table++) {
      crc = tables[crc & 0xff] ^ (crc >>> 8);
      tables[table * 256 + byte] = crc;
    }
  }
  return tables;
})();

/**
 * The CRC32C of `bytes` (initial value and final XOR `0xFFFFFFFF`, as in iSCSI, SCTP and the PROXY protocol), as an
 * unsigned 32-bit integer. Pass the previous result as `crc` to continue over more bytes.
 *
 * @example
 * ```ts
 * import { crc32c } from "@sockserve/sockserve";
 *
 * crc32c(new TextEncoder().encode("123456789")); // 0xe3069283
 * ```
 */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  const t = TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const end8 = bytes.length - (bytes.length % 8);
  for (; i < end8; i += 8) {
    const low = c ^ (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    c = t[1792 + (low & 0xff)] ^ t[1536 + ((low >>> 8) & 0xff)] ^ t[1280 + ((low >>> 16) & 0xff)] ^
      t[1024 + (low >>> 24)] ^ t[768 + bytes[i + 4]] ^ t[512 + bytes[i + 5]] ^ t[256 + bytes[i + 6]] ^
      t[bytes[i + 7]];
  }
  for (; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}
