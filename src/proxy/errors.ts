/**
 * The error of the PROXY protocol: a header that is invalid, late, untrusted or cut short.
 *
 * @module
 */

/** What was wrong with a PROXY protocol header, or with the connection that should have carried one. */
export type ProxyProtocolErrorCode =
  /** The first bytes are neither `PROXY ` (v1) nor the 12-byte v2 signature. */
  | "bad-signature"
  /** A v2 header whose version nibble is not 2. */
  | "bad-version"
  /** A version the server does not accept (see `versions`). */
  | "version-not-allowed"
  /** A v2 command other than LOCAL (0) and PROXY (1). */
  | "bad-command"
  /** A v2 address family or transport outside the spec, or a v1 protocol other than TCP4, TCP6 and UNKNOWN. */
  | "bad-family"
  /** A v2 length too short for its address family. */
  | "bad-length"
  /** A malformed v1 line: spacing, characters, an address or a port. */
  | "bad-line"
  /** No CRLF within the 107 bytes a v1 line may take. */
  | "line-too-long"
  /** A malformed TLV (one running past the header, a CRC32C TLV not 4 bytes long, a unique id over 128 bytes, …). */
  | "bad-tlv"
  /** TLVs longer than the server's `maxTlvBytes`. */
  | "tlv-too-large"
  /** The CRC32C TLV does not match the header. */
  | "bad-crc32c"
  /** The connection ended in the middle of the header. */
  | "truncated"
  /**
   * The connection ended, or was reset, before it sent a byte, or was reset right after a header naming the proxy's
   * own connection: a health check or a port scan, not an attack (not printed by default).
   */
  | "closed"
  /** The header did not arrive within `headerTimeout`. */
  | "timeout"
  /** The peer is not one of `trustedProxies`. */
  | "untrusted-peer";

/**
 * A PROXY protocol header was refused; `code` says why, the message says what was found and what is allowed. A server
 * closes such a connection without a reply, before `verifyRequest()` and the handler run.
 *
 * @example Telling why a header was refused
 * ```ts
 * import { parseProxyHeader, ProxyProtocolError } from "@sockserve/sockserve";
 *
 * try {
 *   parseProxyHeader(new TextEncoder().encode("PROXY TCP4 1.2.3.4 5.6.7.8 80 070\r\n"));
 * } catch (error) {
 *   if (error instanceof ProxyProtocolError) console.log(error.code); // "bad-line": a port with a leading zero
 * }
 * ```
 */
export class ProxyProtocolError extends Error {
  /** What was wrong. */
  readonly code: ProxyProtocolErrorCode;
  /**
   * Makes the error.
   *
   * @param code what was wrong
   * @param message what was found, and what is allowed
   */
  constructor(code: ProxyProtocolErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProxyProtocolError";
    this.code = code;
  }
}
