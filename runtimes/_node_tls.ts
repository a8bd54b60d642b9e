/**
 * TLS for all three adapters, on `node:tls`: the one engine that enforces client certificates, chooses certificates
 * by SNI, reloads certificates and upgrades accepted sockets (STARTTLS) alike on Deno, Bun and Node. Each context owns
 * a `tls.Server` that never listens: accepted `node:net` sockets are fed to it with `emit("connection")`, the one path
 * on which every runtime checks client certificates (a `TLSSocket` built by hand lets a certificate from an unknown CA
 * in on Node and Deno).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import crypto from "node:crypto";
import type net from "node:net";
import tls from "node:tls";
import { StartTlsError, TlsConfigError, TlsHandshakeError } from "../src/tls/errors.ts";
import type { DistinguishedName, PeerCertificate, TlsInfo } from "../src/tls/info.ts";
import type { TlsCertificateConfig, TlsConfig } from "../src/tls/options.ts";
import type { SecuredSocket, SocketAddress, StreamSocket, TlsContext } from "../src/transport.ts";
import { NodeStreamSocket } from "./_node_stream_socket.ts";

interface Pending {
  readonly resolve: (secured: SecuredSocket) => void;
  readonly reject: (error: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
  readonly unixPath: string | undefined;
  readonly remoteAddress: SocketAddress;
  readonly onClose: () => void;
}

/** The secure-context options of one certificate: its key decrypted here, so every engine gets a plain key. */
function certificateOptions(certificate: TlsCertificateConfig, option: string): { cert: string; key: string } {
  let leaf: crypto.X509Certificate;
  try {
    leaf = new crypto.X509Certificate(certificate.cert);
  } catch (error) {
    throw new TlsConfigError(`${option}.cert`, `the certificate cannot be read (${messageOf(error)})`, {
      cause: error,
    });
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(
      certificate.passphrase === undefined ? certificate.key : {
        key: certificate.key,
        passphrase: certificate.passphrase,
      },
    );
  } catch (error) {
    const encrypted = /ENCRYPTED/.test(certificate.key);
    const why = !encrypted
      ? `the private key cannot be read (${messageOf(error)})`
      : certificate.passphrase === undefined
      ? "the private key is encrypted: give its passphrase"
      : "the passphrase does not decrypt the private key";
    throw new TlsConfigError(`${option}.key`, why, { cause: error });
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new TlsConfigError(
      `${option}.key`,
      `the private key does not match the certificate (${leaf.subject.replaceAll("\n", ", ")})`,
    );
  }
  return { cert: certificate.cert, key: key.export({ format: "pem", type: "pkcs8" }) as string };
}

function caOption(ca: string, option: string): string {
  const blocks = ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  for (const [index, block] of blocks.entries()) {
    try {
      new crypto.X509Certificate(block);
    } catch (error) {
      throw new TlsConfigError(option, `certificate ${index + 1} cannot be read (${messageOf(error)})`, {
        cause: error,
      });
    }
  }
  return ca;
}

/** A matcher from server names to secure contexts: exact names first, then `*.` wildcards for one label. */
function sniContexts(config: TlsConfig, base: tls.SecureContextOptions): Map<string, tls.SecureContext> {
  const contexts = new Map<string, tls.SecureContext>();
  for (const [serverName, certificate] of config.sni) {
    const option = `tls.sni["${serverName}"]`;
    contexts.set(serverName, tls.createSecureContext({ ...base, ...certificateOptions(certificate, option) }));
  }
  return contexts;
}

function lookup(contexts: Map<string, tls.SecureContext>, serverName: string): tls.SecureContext | undefined {
  const name = serverName.toLowerCase();
  const exact = contexts.get(name);
  if (exact !== undefined) return exact;
  const dot = name.indexOf(".");
  return dot > 0 ? contexts.get(`*${name.slice(dot)}`) : undefined;
}

interface Built {
  readonly options: tls.TlsOptions;
  readonly contexts: Map<string, tls.SecureContext>;
}

function build(config: TlsConfig): Built {
  const ca = config.ca === null ? undefined : caOption(config.ca, "tls.ca");
  const base: tls.SecureContextOptions = { minVersion: config.minVersion, ...(ca === undefined ? {} : { ca }) };
  const main = certificateOptions(config.certificate, "tls");
  const contexts = sniContexts(config, base);
  return {
    contexts,
    options: {
      ...base,
      ...main,
      requestCert: config.clientCertificates !== "none",
      rejectUnauthorized: config.clientCertificates === "require",
      ...(config.alpnProtocols.length > 0 ? { ALPNProtocols: [...config.alpnProtocols] } : {}),
      // The engine's own timer only reports; this module's destroys the socket (see secure()).
      handshakeTimeout: config.handshakeTimeout + 1_000,
    },
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0] : String(error);
}

function distinguishedName(value: unknown): DistinguishedName {
  const name: Record<string, string> = {};
  if (typeof value !== "object" || value === null) return name;
  for (const [field, part] of Object.entries(value)) {
    name[field] = Array.isArray(part) ? part.join("\n") : String(part);
  }
  return name;
}

function isoDate(text: string | undefined): string {
  const date = new Date(text ?? "");
  return Number.isNaN(date.getTime()) ? String(text ?? "") : date.toISOString();
}

function peerCertificate(socket: tls.TLSSocket): PeerCertificate | null {
  const peer = socket.getPeerCertificate(false) as Partial<tls.PeerCertificate> | null;
  if (peer === null || peer.raw === undefined || Object.keys(peer).length === 0) return null;
  const raw = new Uint8Array(peer.raw);
  return {
    subject: distinguishedName(peer.subject),
    issuer: distinguishedName(peer.issuer),
    subjectAltNames: peer.subjectaltname ? peer.subjectaltname.split(", ") : [],
    serialNumber: String(peer.serialNumber ?? "").toUpperCase(),
    validFrom: isoDate(peer.valid_from),
    validTo: isoDate(peer.valid_to),
    fingerprint256: peer.fingerprint256 ?? crypto.createHash("sha256").update(raw).digest("hex").toUpperCase()
      .replace(/(..)(?!$)/g, "$1:"),
    raw,
  };
}

/** The facts of a finished handshake, and the reason to refuse the client, if there is one. */
function settle(socket: tls.TLSSocket, config: TlsConfig): { info: TlsInfo; refusal: string | null } {
  const certificate = config.clientCertificates === "none" ? null : peerCertificate(socket);
  // Never the engine's `authorized` alone: Deno says true where no certificate was asked for.
  const engineError = socket.authorizationError === undefined || socket.authorizationError === null
    ? null
    : String((socket.authorizationError as unknown as { code?: string }).code ?? socket.authorizationError);
  const authorized = certificate !== null && socket.authorized === true && engineError === null;
  const authorizationError = authorized ? null : certificate === null ? "NO_CERTIFICATE" : engineError ?? "UNKNOWN";
  const alpn = socket.alpnProtocol;
  const cipher = socket.getCipher();
  const info: TlsInfo = {
    protocol: socket.getProtocol() ?? "unknown",
    cipher: cipher?.standardName ?? cipher?.name ?? "unknown",
    alpnProtocol: typeof alpn === "string" && alpn !== "" ? alpn : null,
    serverName: typeof (socket as { servername?: unknown }).servername === "string" &&
        (socket as { servername?: string }).servername !== ""
      ? (socket as { servername?: string }).servername as string
      : null,
    authorized,
    authorizationError,
    peerCertificate: certificate,
  };
  let refusal: string | null = null;
  if (config.clientCertificates === "require" && !authorized) refusal = authorizationError;
  // "optional" lets a client without a certificate in, never one with a certificate no trusted CA signed.
  if (config.clientCertificates === "optional" && certificate !== null && !authorized) refusal = authorizationError;
  return { info, refusal };
}

/**
 * Deno's `node:tls` without an `SNICallback` leaves the connection open after a failed handshake (bytes that are not a
 * ClientHello: the client never sees it close, though the socket reports "close"); with one it closes it.
 */
const SNI_CALLBACK_ALWAYS = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

/** One server's TLS settings, as a `tls.Server` that never listens. */
class NodeTlsContext implements TlsContext {
  #config: TlsConfig;
  #contexts: Map<string, tls.SecureContext>;
  #server: tls.Server;
  #pending = new WeakMap<net.Socket, Pending>();

  constructor(config: TlsConfig) {
    const built = build(config);
    this.#config = config;
    this.#contexts = built.contexts;
    this.#server = this.#engine(built);
  }

  /**
   * The `tls.Server` new connections are fed to. An `SNICallback` only where there are SNI certificates (and on
   * Deno): with one, every handshake of Node and Bun stops in the middle for a call into JavaScript (the engine's
   * certificate callback), even for a client that names no server.
   */
  #engine(built: Built): tls.Server {
    const server = tls.createServer(
      built.contexts.size === 0 && !SNI_CALLBACK_ALWAYS ? built.options : {
        ...built.options,
        SNICallback: (serverName, callback) => callback(null, lookup(this.#contexts, serverName)),
      },
    );
    server.on("secureConnection", (socket: tls.TLSSocket) => this.#secured(socket));
    server.on("tlsClientError", (error: Error & { code?: string }, socket: tls.TLSSocket) => {
      this.#failed(
        socket,
        new TlsHandshakeError(messageOf(error), error.code, { cause: error }),
      );
    });
    return server;
  }

  secure(socket: StreamSocket, handshakeStart?: () => Uint8Array): Promise<SecuredSocket> {
    if (!(socket instanceof NodeStreamSocket)) {
      return Promise.reject(
        new StartTlsError("TLS needs a connection accepted through node:net (TlsSupport.listenStream)"),
      );
    }
    // A unix socket's peer is "" (its local address, the listener's path, is at hand); a TCP socket's local address
    // would cost a system call (getsockname) that most servers never need.
    const remoteAddress = socket.remoteAddress;
    const unixPath = typeof remoteAddress === "string" ? socket.localAddress as string : undefined;
    const raw = socket.takeOver();
    const early = handshakeStart?.();
    // Read already, by the consumer: back in front of the socket's input, where the engine reads first.
    if (early !== undefined && early.length > 0) raw.unshift(Buffer.from(early));
    // TLS writes whole records, so Nagle only delays: the handshake's last flight and the session tickets wait for the
    // peer's delayed ACK (40 ms per connection, seen in forking mode's children). Handlers may still turn it back on.
    if (unixPath === undefined) raw.setNoDelay(true);
    const config = this.#config;
    return new Promise<SecuredSocket>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#take(raw);
        raw.destroy();
        reject(new TlsHandshakeError(`not finished within ${config.handshakeTimeout} ms`, "TIMEOUT"));
      }, config.handshakeTimeout);
      const onClose = () => {
        const error = new TlsHandshakeError("the client closed the connection", "ECONNRESET");
        this.#failed(null, error, raw);
      };
      this.#pending.set(raw, { resolve, reject, timer, unixPath, remoteAddress, onClose });
      raw.once("close", onClose);
      this.#server.emit("connection", raw);
    });
  }

  update(config: TlsConfig): void {
    const built = build(config);
    // SNI certificates added or all removed: the engine must gain or lose its callback, so new connections go to a new
    // one (handshakes under way finish on the old).
    if (!SNI_CALLBACK_ALWAYS && (built.contexts.size === 0) !== (this.#contexts.size === 0)) {
      this.#server = this.#engine(built);
    } else this.#server.setSecureContext(built.options as tls.SecureContextOptions);
    this.#contexts = built.contexts;
    this.#config = config;
  }

  #take(raw: net.Socket | undefined): Pending | undefined {
    if (raw === undefined) return undefined;
    const pending = this.#pending.get(raw);
    if (pending === undefined) return undefined;
    this.#pending.delete(raw);
    clearTimeout(pending.timer);
    raw.off("close", pending.onClose);
    return pending;
  }

  #secured(socket: tls.TLSSocket): void {
    const raw = (socket as unknown as { _parent?: net.Socket })._parent;
    const pending = this.#take(raw);
    if (pending === undefined) return void socket.destroy();
    const { info, refusal } = settle(socket, this.#config);
    if (refusal !== null) {
      socket.destroy();
      raw?.destroy();
      pending.reject(new TlsHandshakeError(`client certificate refused: ${refusal}`, refusal));
      return;
    }
    socket.pause();
    const secured = new NodeStreamSocket(socket, pending.unixPath, true, pending.remoteAddress);
    secured.tls = info;
    pending.resolve({ socket: secured, info });
  }

  #failed(socket: tls.TLSSocket | null, error: TlsHandshakeError, raw?: net.Socket): void {
    const parent = raw ?? (socket as unknown as { _parent?: net.Socket } | null)?._parent;
    socket?.destroy();
    parent?.destroy();
    this.#take(parent)?.reject(error);
  }
}

/** Makes a context; see {@link TlsSupport.createContext}. */
export function createNodeTlsContext(config: TlsConfig): TlsContext {
  return new NodeTlsContext(config);
}
