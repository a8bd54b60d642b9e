/**
 * The `tls` option of stream servers, checked and put in the one plain form (PEM text) that every mode can carry: to
 * the runtime's TLS engine, into a worker thread, and over the IPC channel of a child process.
 *
 * @module
 */

/** PEM text, or its bytes (a file's contents as read). */
export type PemInput = string | Uint8Array;

/** One certificate chain and its private key. */
export interface TlsCertificate {
  /** The certificate, or the chain: the server's certificate first, then the intermediates (PEM). */
  cert: PemInput | readonly PemInput[];
  /** The private key of the certificate (PEM; PKCS#8, PKCS#1 or SEC1), encrypted or not. */
  key: PemInput;
  /** The key's passphrase, when the key is encrypted. */
  passphrase?: string;
}

/**
 * Whether clients must show a certificate signed by {@link TlsOptions.ca} (Python's `verify_mode`): `"require"`
 * (`CERT_REQUIRED`: a client without one, or with one from another CA, fails the handshake and never reaches
 * `verifyRequest` or a handler), `"optional"` (`CERT_OPTIONAL`: a client may show none; one that shows a certificate
 * the CA did not sign is refused too; `tls.authorized` tells) or `"none"` (`CERT_NONE`: none is asked for).
 */
export type ClientCertificates = "require" | "optional" | "none";

/** Lowest TLS version a server accepts. */
export type TlsMinVersion = "TLSv1.2" | "TLSv1.3";

/**
 * TLS settings of a stream server (the `tls` option of `TCPServer` and `UnixStreamServer`, in every mode).
 *
 * @example TLS with client certificates, names allowed in verifyRequest
 * ```ts
 * import { AsyncTCPServer, type Connection, StreamRequestHandler } from "@sockserve/sockserve";
 *
 * // The PEM texts, however the program reads its files.
 * const [serverPem, serverKey, caPem] = ["server.pem", "server.key", "ca.pem"].map((name) => `(text of ${name})`);
 * class Server extends AsyncTCPServer {
 *   override verifyRequest(request: Connection): boolean {
 *     return ["alice", "bob"].includes(request.tls?.peerCertificate?.subject.CN ?? "");
 *   }
 * }
 * const server = new Server(["127.0.0.1", 8443], StreamRequestHandler, {
 *   tls: { cert: serverPem, key: serverKey, ca: caPem, clientCertificates: "require" },
 * });
 * ```
 */
export interface TlsOptions extends TlsCertificate {
  /**
   * `"implicit"` (default): every connection starts with a handshake, before `verifyRequest`. `"starttls"`: connections
   * start in plain text, and a handler upgrades its own with `await this.startTls()` (SMTP, IMAP, LDAP).
   */
  mode?: "implicit" | "starttls";
  /**
   * Other certificates, chosen by the server name a client asks for (SNI): `{ "other.example": { cert, key } }`. A
   * name may start with `*.` to match one label. Clients asking for no name, or another name, get the main one.
   */
  sni?: Readonly<Record<string, TlsCertificate>>;
  /** ALPN protocols offered, in order of preference (`["h2", "http/1.1"]`). Default: none. */
  alpnProtocols?: readonly string[];
  /** Lowest protocol version accepted. Default `"TLSv1.2"`. */
  minVersion?: TlsMinVersion;
  /**
   * Milliseconds a client has to finish its handshake, from the moment it connects (or asks to upgrade); then the
   * socket is destroyed. Default 10,000.
   */
  handshakeTimeout?: number;
  /** Certificate authorities that client certificates must be signed by (PEM, one or several). */
  ca?: PemInput | readonly PemInput[];
  /** Whether clients must show a certificate. Default `"require"` when `ca` is given, `"none"` otherwise. */
  clientCertificates?: ClientCertificates;
}

/** A certificate and key in plain form: PEM text. */
export interface TlsCertificateConfig {
  /** The chain, PEM. */
  readonly cert: string;
  /** The key, PEM. */
  readonly key: string;
  /** Its passphrase, if any. */
  readonly passphrase?: string;
}

/** {@link TlsOptions} checked, with every default filled in: JSON data, so that workers and children can get it. */
export interface TlsConfig {
  /** See {@link TlsOptions.mode}. */
  readonly mode: "implicit" | "starttls";
  /** The main certificate. */
  readonly certificate: TlsCertificateConfig;
  /** Certificates by server name, in the order given. */
  readonly sni: readonly (readonly [serverName: string, certificate: TlsCertificateConfig])[];
  /** See {@link TlsOptions.alpnProtocols}. */
  readonly alpnProtocols: readonly string[];
  /** See {@link TlsOptions.minVersion}. */
  readonly minVersion: TlsMinVersion;
  /** See {@link TlsOptions.handshakeTimeout}. */
  readonly handshakeTimeout: number;
  /** Trusted CAs for client certificates (PEM), or `null`. */
  readonly ca: string | null;
  /** See {@link TlsOptions.clientCertificates}. */
  readonly clientCertificates: ClientCertificates;
}

/** Default of {@link TlsOptions.handshakeTimeout}: Netty's 10 s, not Node's 120 s. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

const decoder = new TextDecoder();
const PEM_BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/;

function pemText(value: unknown, name: string, kind: "certificate" | "key"): string {
  let text: string;
  if (typeof value === "string") text = value;
  else if (value instanceof Uint8Array) text = decoder.decode(value);
  else throw new TypeError(`${name} must be PEM text or its bytes (string or Uint8Array), got ${describe(value)}`);
  const label = PEM_BEGIN.exec(text)?.[1];
  if (label === undefined) {
    throw new TypeError(`${name} is not PEM: no "-----BEGIN ...-----" line (give the file's text, not its path)`);
  }
  const isKey = label.endsWith("PRIVATE KEY");
  if (kind === "key" && !isKey) throw new TypeError(`${name} must be a PEM private key, got a PEM "${label}"`);
  if (kind === "certificate" && label !== "CERTIFICATE") {
    throw new TypeError(`${name} must be a PEM certificate ("-----BEGIN CERTIFICATE-----"), got a PEM "${label}"`);
  }
  return text;
}

function pemList(value: unknown, name: string): string {
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 0) throw new TypeError(`${name} must hold at least one certificate`);
  return items.map((item, index) => pemText(item, Array.isArray(value) ? `${name}[${index}]` : name, "certificate"))
    .map((text) => text.trim()).join("\n") + "\n";
}

function certificateConfig(value: unknown, name: string): TlsCertificateConfig {
  if (typeof value !== "object" || value === null) {
    throw new TypeError(`${name} must be an object { cert, key, passphrase? }, got ${describe(value)}`);
  }
  const { cert, key, passphrase } = value as TlsCertificate;
  if (cert === undefined) throw new TypeError(`${name}.cert is missing: the certificate (PEM) is required`);
  if (key === undefined) throw new TypeError(`${name}.key is missing: the private key (PEM) is required`);
  if (passphrase !== undefined && typeof passphrase !== "string") {
    throw new TypeError(`${name}.passphrase must be a string, got ${describe(passphrase)}`);
  }
  const config: TlsCertificateConfig = { cert: pemList(cert, `${name}.cert`), key: pemText(key, `${name}.key`, "key") };
  return passphrase === undefined ? config : { ...config, passphrase };
}

const SERVER_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/**
 * Checks the `tls` option of a server and fills in its defaults. Only the form is checked here; the runtime's
 * `createContext` then checks that each certificate and key can be read and that they match.
 *
 * @throws {TypeError} for a value of the wrong kind (the message names the option and what it accepts)
 * @throws {RangeError} for a value out of range
 */
export function tlsConfig(options: TlsOptions, name = "tls"): TlsConfig {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${name} must be an object { cert, key, ... }, got ${describe(options)}`);
  }
  const mode = options.mode ?? "implicit";
  if (mode !== "implicit" && mode !== "starttls") {
    throw new TypeError(`${name}.mode must be "implicit" or "starttls", got ${describe(mode)}`);
  }
  const certificate = certificateConfig(options, name);
  const sniOption = options.sni ?? {};
  if (typeof sniOption !== "object" || sniOption === null || Array.isArray(sniOption)) {
    throw new TypeError(`${name}.sni must be an object from server names to { cert, key }, got ${describe(sniOption)}`);
  }
  const sni = Object.entries(sniOption).map(([serverName, value]) => {
    if (!SERVER_NAME.test(serverName) || serverName.length > 253) {
      throw new TypeError(`${name}.sni: "${serverName}" is not a DNS name (a leading "*." is allowed)`);
    }
    return [serverName.toLowerCase(), certificateConfig(value, `${name}.sni["${serverName}"]`)] as const;
  });
  const alpnProtocols = options.alpnProtocols ?? [];
  if (!Array.isArray(alpnProtocols)) {
    throw new TypeError(`${name}.alpnProtocols must be an array of strings, got ${describe(alpnProtocols)}`);
  }
  for (const protocol of alpnProtocols) {
    if (typeof protocol !== "string" || protocol.length === 0 || new TextEncoder().encode(protocol).length > 255) {
      throw new TypeError(
        `${name}.alpnProtocols: each protocol must be a string of 1-255 bytes, got ${describe(protocol)}`,
      );
    }
  }
  const minVersion = options.minVersion ?? "TLSv1.2";
  if (minVersion !== "TLSv1.2" && minVersion !== "TLSv1.3") {
    throw new RangeError(`${name}.minVersion must be "TLSv1.2" or "TLSv1.3", got ${describe(minVersion)}`);
  }
  const handshakeTimeout = options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  if (typeof handshakeTimeout !== "number" || !Number.isFinite(handshakeTimeout) || handshakeTimeout <= 0) {
    throw new RangeError(
      `${name}.handshakeTimeout must be a positive number of milliseconds, got ${describe(handshakeTimeout)}`,
    );
  }
  const ca = options.ca === undefined ? null : pemList(options.ca, `${name}.ca`);
  const clientCertificates = options.clientCertificates ?? (ca === null ? "none" : "require");
  if (clientCertificates !== "require" && clientCertificates !== "optional" && clientCertificates !== "none") {
    throw new TypeError(
      `${name}.clientCertificates must be "require", "optional" or "none", got ${describe(clientCertificates)}`,
    );
  }
  if (clientCertificates !== "none" && ca === null) {
    throw new TypeError(
      `${name}.clientCertificates "${clientCertificates}" needs ${name}.ca: the CAs to check them against`,
    );
  }
  return {
    mode,
    certificate,
    sni,
    alpnProtocols: [...alpnProtocols],
    minVersion,
    handshakeTimeout,
    ca,
    clientCertificates,
  };
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return `a ${value.constructor?.name ?? "object"}`;
  return `${typeof value} ${String(value)}`;
}
