/**
 * What a TLS handshake settled, as plain data: the same object on the main thread, in a worker thread and in a child
 * process (it survives `structuredClone` and JSON, but for the certificate's `raw` bytes, which JSON turns to base64
 * only where said).
 *
 * @module
 */

/** A distinguished name as `{ CN: "alice", O: "Example" }` (a field given twice holds its values joined by `"\n"`). */
export type DistinguishedName = Readonly<Record<string, string>>;

/** The client's certificate, as a handler may check it (Python's `getpeercert()`). */
export interface PeerCertificate {
  /** Its subject: `subject.CN` is the usual name to check. */
  readonly subject: DistinguishedName;
  /** Who signed it. */
  readonly issuer: DistinguishedName;
  /** Subject alternative names, as written in the certificate: `["DNS:alice.example", "email:alice@example"]`. */
  readonly subjectAltNames: readonly string[];
  /** The serial number, upper-case hex. */
  readonly serialNumber: string;
  /** Start of validity, ISO 8601. */
  readonly validFrom: string;
  /** End of validity, ISO 8601. */
  readonly validTo: string;
  /** SHA-256 of the DER, as `AB:CD:...` (what `openssl x509 -fingerprint -sha256` prints). */
  readonly fingerprint256: string;
  /** The certificate itself, DER. */
  readonly raw: Uint8Array;
}

/** The TLS facts of a connection: `request.tls` in a handler and in `verifyRequest`. */
export interface TlsInfo {
  /** The protocol version: `"TLSv1.3"` or `"TLSv1.2"`. */
  readonly protocol: string;
  /** The cipher suite's standard name (`"TLS_AES_256_GCM_SHA384"`). */
  readonly cipher: string;
  /** The ALPN protocol agreed on, or `null`. */
  readonly alpnProtocol: string | null;
  /** The server name the client asked for (SNI), or `null`. */
  readonly serverName: string | null;
  /**
   * Whether the client showed a certificate that a trusted CA signed. Checked by this library itself, never taken from
   * a runtime's own flag (one runtime says `true` where no certificate was asked for).
   */
  readonly authorized: boolean;
  /** Why not, when {@link TlsInfo.authorized} is `false`: an OpenSSL code such as `"UNABLE_TO_VERIFY_LEAF_SIGNATURE"`, or `"NO_CERTIFICATE"`. */
  readonly authorizationError: string | null;
  /** The client's certificate, or `null` when it showed none. */
  readonly peerCertificate: PeerCertificate | null;
}
