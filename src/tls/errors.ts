/**
 * Errors of TLS servers.
 *
 * @module
 */

/**
 * A `tls` option that cannot be used: a certificate or key that does not parse, an encrypted key without its
 * passphrase (or with a wrong one), a key that does not match its certificate. `listen()` fails with it before
 * anything is bound.
 */
export class TlsConfigError extends Error {
  /** The option at fault, such as `"tls.key"` or `"tls.sni[\"other.example\"].cert"`. */
  readonly option: string;
  /**
   * Makes the error.
   *
   * @param option the option at fault
   * @param message what is wrong with it
   * @param options the engine's own error, if any
   */
  constructor(option: string, message: string, options?: ErrorOptions) {
    super(`${option}: ${message}`, options);
    this.name = "TlsConfigError";
    this.option = option;
  }
}

/**
 * A TLS handshake that failed (a client without a required certificate, one from an untrusted CA, no protocol version
 * in common, garbage instead of a ClientHello, …) or did not finish within `handshakeTimeout`. Its connection was
 * destroyed and never reached `verifyRequest` or a handler; the server's `handleTlsError()` hears of it.
 */
export class TlsHandshakeError extends Error {
  /** The engine's code when it gave one (`"ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE"`, …), or `"TIMEOUT"`. */
  readonly code: string | undefined;
  /**
   * Makes the error.
   *
   * @param message what went wrong
   * @param code the engine's code, if any
   * @param options the engine's own error, if any
   */
  constructor(message: string, code?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TlsHandshakeError";
    this.code = code;
  }
}

/**
 * `startTls()` refused: the server has no STARTTLS settings, the connection is already secured, or, against the
 * STARTTLS command-injection class of bugs (CVE-2011-0411), the client sent bytes after its upgrade command and before
 * the handshake: those are plain text that must never be read as if it came over TLS, so the upgrade fails and the
 * connection is closed.
 */
export class StartTlsError extends Error {
  /**
   * Makes the error.
   *
   * @param message why the upgrade was refused
   */
  constructor(message: string) {
    super(message);
    this.name = "StartTlsError";
  }
}
