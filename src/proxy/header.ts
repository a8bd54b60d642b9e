/**
 * What a PROXY protocol header says, as plain data (it crosses to worker threads and child processes unchanged).
 *
 * @module
 */
import type { SocketAddress } from "../transport.ts";

/** A protocol version: `"v1"` (the text line) or `"v2"` (binary, with TLVs). */
export type ProxyVersion = "v1" | "v2";

/**
 * What the proxied connection was: v1's `TCP4`, `TCP6`, `UNKNOWN`, and v2's families (`UNIX_STREAM` is an AF_UNIX
 * stream; `UNKNOWN` is v2's AF_UNSPEC).
 */
export type ProxyTransportProtocol = "TCP4" | "TCP6" | "UDP4" | "UDP6" | "UNIX_STREAM" | "UNIX_DGRAM" | "UNKNOWN";

/** One v2 TLV (type-length-value): its type byte and its value bytes. */
export interface ProxyTlv {
  /** The type, 0–255 (see {@link PROXY_TLV}). */
  readonly type: number;
  /** The value. */
  readonly value: Uint8Array;
}

/** The v2 TLV types the spec names. 0xE0–0xEF are for applications (AWS uses 0xEA), 0xF0–0xF7 experimental. */
export const PROXY_TLV: {
  readonly ALPN: 0x01;
  readonly AUTHORITY: 0x02;
  readonly CRC32C: 0x03;
  readonly NOOP: 0x04;
  readonly UNIQUE_ID: 0x05;
  readonly SSL: 0x20;
  readonly SSL_VERSION: 0x21;
  readonly SSL_CN: 0x22;
  readonly SSL_CIPHER: 0x23;
  readonly SSL_SIG_ALG: 0x24;
  readonly SSL_KEY_ALG: 0x25;
  readonly NETNS: 0x30;
} = Object.freeze({
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  SSL_VERSION: 0x21,
  SSL_CN: 0x22,
  SSL_CIPHER: 0x23,
  SSL_SIG_ALG: 0x24,
  SSL_KEY_ALG: 0x25,
  NETNS: 0x30,
});

/** The `PP2_TYPE_SSL` TLV: how the client reached the proxy over TLS. */
export interface ProxySslInfo {
  /** Bit field: 0x01 the client used TLS, 0x02 it sent a certificate on this connection, 0x04 on this session. */
  readonly client: number;
  /** 0 when the client's certificate was verified, non-zero otherwise. */
  readonly verify: number;
  /** TLS version (`"TLSv1.3"`), when sent. */
  readonly version?: string;
  /** The certificate's common name, when sent. */
  readonly cn?: string;
  /** The cipher (`"ECDHE-RSA-AES128-GCM-SHA256"`), when sent. */
  readonly cipher?: string;
  /** The certificate's signature algorithm, when sent. */
  readonly sigAlg?: string;
  /** The certificate's key algorithm, when sent. */
  readonly keyAlg?: string;
  /** Every sub-TLV as received, the ones above included. */
  readonly tlvs: readonly ProxyTlv[];
}

/**
 * A PROXY protocol header, parsed. `source` and `destination` are `null` when the header names no addresses (v1
 * `UNKNOWN`, v2 `LOCAL` or AF_UNSPEC): the server then uses the socket's own. The TLV fields are set only when the
 * header has that TLV (v2 only); `tlvs` holds every TLV in order, unknown ones included.
 */
export interface ProxyHeader {
  /** 1 or 2. */
  readonly version: 1 | 2;
  /** `"PROXY"`: a relayed connection; `"LOCAL"` (v2): the proxy's own connection, a health check. */
  readonly command: "PROXY" | "LOCAL";
  /** The proxied connection's protocol. */
  readonly protocol: ProxyTransportProtocol;
  /** The client: `[host, port]`, a unix path, or `null`. */
  readonly source: SocketAddress | null;
  /** The address the client connected to (on the proxy), or `null`. */
  readonly destination: SocketAddress | null;
  /** Every v2 TLV, in order (empty for v1). */
  readonly tlvs: readonly ProxyTlv[];
  /** `PP2_TYPE_ALPN`: the protocol negotiated with the client (`"h2"`). */
  readonly alpn?: string;
  /** `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI or Host). */
  readonly authority?: string;
  /** `PP2_TYPE_CRC32C`: the checksum, already checked against the header. */
  readonly crc32c?: number;
  /** `PP2_TYPE_UNIQUE_ID`: the proxy's id of this connection (up to 128 bytes). */
  readonly uniqueId?: Uint8Array;
  /** `PP2_TYPE_SSL`. */
  readonly ssl?: ProxySslInfo;
  /** `PP2_TYPE_NETNS`: the network namespace's name. */
  readonly netns?: string;
  /** The header exactly as received, to log or to pass on. */
  readonly raw: Uint8Array;
}
