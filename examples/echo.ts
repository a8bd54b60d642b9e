/**
 * A command-line echo server: the README's demo.
 *
 * ```
 * deno run -A examples/echo.ts [options] | bun examples/echo.ts [options] | node dist/examples/echo.js [options]
 *   --transport tcp|udp|unix|unix-dgram   (default tcp)
 *   --mode sync|async|threading|forking   (default async)
 *   --handler stream|protocol   (default stream: a StreamRequestHandler awaiting each line; protocol: a
 *                               StreamProtocol echoing each chunk from the socket's callback, or for datagrams one
 *                               DatagramProtocol for the server, which runs in the server's thread: sync or async)
 *   --host HOST (default 127.0.0.1)  --port N (default 0)  --path PATH (unix transports)
 *   --requests-per-child N|Infinity   (forking: requests a child process serves before it exits; default 1)
 *   --proxy-protocol v1|v2|any   (stream transports: every connection starts with a PROXY protocol header of that
 *                                 version, as HAProxy's send-proxy / send-proxy-v2 and nginx's proxy_protocol send)
 *   --trusted-proxy CIDR     (repeatable; with --proxy-protocol: only these peers may connect; "unix" for unix peers)
 *   --whoami                 (stream transports: first send `client HOST:PORT pid PID` on each connection: the client
 *                             as the server sees it, the PROXY source with --proxy-protocol, and the serving process)
 *   --workers N              (async mode, tcp/unix/udp, stream handler: a pool of N worker processes; SIGHUP reloads
 *                             them with no connection refused; --whoami's pid tells which worker serves)
 *   --listen-fd N|systemd    (stream transports: serve the inherited listening socket N, or the one systemd socket
 *                             activation passed (LISTEN_FDS/LISTEN_PID); --host/--port/--path are then ignored)
 *   --tls-cert FILE --tls-key FILE   (stream transports: serve TLS with this certificate chain and key, PEM)
 *   --tls-ca FILE            (with TLS: require client certificates signed by this CA)
 *   --starttls               (with TLS: plain first; the line STARTTLS is answered READY, then the connection upgrades)
 * ```
 *
 * Prints one line `listening on ADDRESS` when ready. SIGINT or SIGTERM: stops accepting, lets requests in flight
 * finish (up to 10 s), removes the unix socket file, exits 0. Bad options or a failed bind: one line on stderr, exit 2.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import {
  AsyncTCPServer,
  AsyncUDPServer,
  AsyncUnixDatagramServer,
  AsyncUnixStreamServer,
  type BaseServer,
  ForkingTCPServer,
  ForkingUDPServer,
  ForkingUnixDatagramServer,
  ForkingUnixStreamServer,
  listenFdsFromEnvironment,
  type ProxyProtocolOptions,
  TCPServer,
  type TCPServerOptions,
  ThreadingTCPServer,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
  ThreadingUnixStreamServer,
  type TlsOptions,
  UDPProtocolServer,
  UDPServer,
  UnixDatagramProtocolServer,
  UnixDatagramServer,
  UnixStreamServer,
  WorkerPool,
} from "../mod.ts";
import { DatagramEcho, DatagramProtocolEcho, LineEcho, ProtocolEcho } from "./echo_handlers.ts";
import { parseRequestsPerChild, UsageError } from "./_options.ts";
import { serveUntilSignal } from "./_serve_until_signal.ts";

const TRANSPORTS = ["tcp", "udp", "unix", "unix-dgram"] as const;
const MODES = ["sync", "async", "threading", "forking"] as const;
const HANDLERS = ["stream", "protocol"] as const;
type Transport = typeof TRANSPORTS[number];
type Mode = typeof MODES[number];
type Handler = typeof HANDLERS[number];

/** Parsed command line. */
export interface EchoOptions {
  /** Which socket type. */
  transport: Transport;
  /** Which concurrency model. */
  mode: Mode;
  /** Which handler shape: a `StreamRequestHandler` (awaits each line) or a protocol (callbacks). */
  handler: Handler;
  /** Host for tcp/udp. */
  host: string;
  /** Port for tcp/udp. */
  port: number;
  /** Path for unix transports. */
  path: string | undefined;
  /** Forking: requests a child process serves before it exits. */
  requestsPerChild: number;
  /** The PROXY protocol versions every connection's header may have, or `null` for no header. */
  proxyProtocol: "v1" | "v2" | "any" | null;
  /** With `proxyProtocol`: the peers allowed to send a header (empty: any). */
  trustedProxies: string[];
  /** Stream transports: say who the client is first. */
  whoami: boolean;
  /** Serve TLS with this certificate (chain) file, PEM. */
  tlsCert: string | undefined;
  /** ... and this private key file, PEM. */
  tlsKey: string | undefined;
  /** Require client certificates signed by the CA in this file, PEM. */
  tlsCa: string | undefined;
  /** Plain first; the line STARTTLS upgrades (needs tlsCert and tlsKey). */
  starttls: boolean;
  /** A worker pool of this many processes, or `null` for one server. */
  workers: number | null;
  /** The inherited listening socket to serve, or `null` to bind. */
  listenFd: number | null;
}

function parse(argv: readonly string[]): EchoOptions {
  const options: EchoOptions = {
    transport: "tcp",
    mode: "async",
    handler: "stream",
    host: "127.0.0.1",
    port: 0,
    path: undefined,
    requestsPerChild: 1,
    proxyProtocol: null,
    trustedProxies: [],
    whoami: false,
    tlsCert: undefined,
    tlsKey: undefined,
    tlsCa: undefined,
    starttls: false,
    workers: null,
    listenFd: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = (): string => {
      const found = inline ?? argv[++i];
      if (found === undefined) throw new UsageError(`${flag} needs a value`);
      return found;
    };
    switch (flag) {
      case "--transport": {
        const transport = value();
        if (!TRANSPORTS.includes(transport as Transport)) {
          throw new UsageError(`--transport must be one of ${TRANSPORTS.join(", ")}, got ${JSON.stringify(transport)}`);
        }
        options.transport = transport as Transport;
        break;
      }
      case "--mode": {
        const mode = value();
        if (!MODES.includes(mode as Mode)) {
          throw new UsageError(`--mode must be one of ${MODES.join(", ")}, got ${JSON.stringify(mode)}`);
        }
        options.mode = mode as Mode;
        break;
      }
      case "--handler": {
        const handler = value();
        if (!HANDLERS.includes(handler as Handler)) {
          throw new UsageError(`--handler must be one of ${HANDLERS.join(", ")}, got ${JSON.stringify(handler)}`);
        }
        options.handler = handler as Handler;
        break;
      }
      case "--host":
        options.host = value();
        break;
      case "--port": {
        const text = value();
        const port = /^\d+$/.test(text) ? Number(text) : NaN;
        if (!Number.isInteger(port) || port > 65535) {
          throw new UsageError(`port must be 0-65535, got ${JSON.stringify(text)}`);
        }
        options.port = port;
        break;
      }
      case "--path":
        options.path = value();
        break;
      case "--requests-per-child":
        options.requestsPerChild = parseRequestsPerChild(value());
        break;
      case "--proxy-protocol": {
        const version = value();
        if (version !== "v1" && version !== "v2" && version !== "any") {
          throw new UsageError(`--proxy-protocol must be v1, v2 or any, got ${JSON.stringify(version)}`);
        }
        options.proxyProtocol = version;
        break;
      }
      case "--trusted-proxy":
        options.trustedProxies.push(value());
        break;
      case "--tls-cert":
        options.tlsCert = value();
        break;
      case "--tls-key":
        options.tlsKey = value();
        break;
      case "--tls-ca":
        options.tlsCa = value();
        break;
      case "--starttls":
        if (inline !== undefined) throw new UsageError("--starttls takes no value");
        options.starttls = true;
        break;
      case "--workers": {
        const text = value();
        const count = /^[1-9]\d*$/.test(text) ? Number(text) : NaN;
        if (!(count <= 1024)) {
          throw new UsageError(`--workers must be an integer from 1 to 1024, got ${JSON.stringify(text)}`);
        }
        options.workers = count;
        break;
      }
      case "--listen-fd": {
        const text = value();
        if (text === "systemd") {
          const [fd] = listenFdsFromEnvironment(process.env, process.pid);
          if (fd === undefined) throw new UsageError("--listen-fd systemd: no socket passed (LISTEN_FDS/LISTEN_PID)");
          options.listenFd = fd;
        } else if (/^\d+$/.test(text)) options.listenFd = Number(text);
        else throw new UsageError(`--listen-fd must be a descriptor number or systemd, got ${JSON.stringify(text)}`);
        break;
      }
      case "--whoami":
        if (inline !== undefined) throw new UsageError("--whoami takes no value");
        options.whoami = true;
        break;
      case "--help":
      case "-h":
        throw new UsageError(
          "usage: echo [--transport tcp|udp|unix|unix-dgram] [--mode sync|async|threading|forking] " +
            "[--handler stream|protocol] [--host HOST] [--port N] [--path PATH] [--requests-per-child N] " +
            "[--proxy-protocol v1|v2|any] [--trusted-proxy CIDR]... [--whoami] [--workers N] " +
            "[--listen-fd N|systemd] " +
            "[--tls-cert FILE --tls-key FILE [--tls-ca FILE] [--starttls]]",
        );
      default:
        throw new UsageError(`unknown option ${JSON.stringify(argv[i])} (try --help)`);
    }
  }
  const unix = options.transport === "unix" || options.transport === "unix-dgram";
  if (unix && options.path === undefined) {
    throw new UsageError(`--path is required with --transport ${options.transport}`);
  }
  const datagram = options.transport === "udp" || options.transport === "unix-dgram";
  if (datagram && options.handler === "protocol" && (options.mode === "threading" || options.mode === "forking")) {
    throw new UsageError(
      `--handler protocol with --transport ${options.transport} serves one protocol object in the server's thread: ` +
        "use --mode sync or async",
    );
  }
  const stream = options.transport === "tcp" || options.transport === "unix";
  for (
    const [flag, set] of [["--proxy-protocol", options.proxyProtocol !== null], ["--whoami", options.whoami]] as const
  ) {
    if (set && !stream) {
      throw new UsageError(`${flag} needs a stream transport (tcp or unix), not ${options.transport}`);
    }
  }
  if (options.listenFd !== null && !stream) throw new UsageError(`--listen-fd needs a stream transport (tcp or unix)`);
  if (options.workers !== null) {
    if (options.mode !== "async" || options.handler !== "stream" || options.transport === "unix-dgram") {
      throw new UsageError("--workers needs --mode async, --handler stream and a tcp, unix or udp transport");
    }
    if (options.tlsCert !== undefined) throw new UsageError("--workers does not serve TLS yet");
  }
  if (options.trustedProxies.length > 0 && options.proxyProtocol === null) {
    throw new UsageError("--trusted-proxy needs --proxy-protocol");
  }
  const tls = options.tlsCert !== undefined || options.tlsKey !== undefined;
  if (tls && (options.tlsCert === undefined || options.tlsKey === undefined)) {
    throw new UsageError("--tls-cert and --tls-key go together");
  }
  if ((options.tlsCa !== undefined || options.starttls) && !tls) {
    throw new UsageError(`${options.starttls ? "--starttls" : "--tls-ca"} needs --tls-cert and --tls-key`);
  }
  if (tls && !stream) throw new UsageError(`TLS needs a stream transport (tcp or unix), not ${options.transport}`);
  if (options.starttls && options.handler === "protocol") throw new UsageError("--starttls needs --handler stream");
  return options;
}

// deno-lint-ignore no-explicit-any
type AnyServer = BaseServer<any, any, any>;

/**
 * Limits for stream connections on top of the defaults (a line begun must end within 60 s): a client silent for
 * 5 minutes is let go, and one address may hold at most 256 connections (see "Limits and timeouts").
 */
const STREAM_LIMITS = { idleTimeout: 300_000, maxConnectionsPerAddress: 256 };

function makeServer(options: EchoOptions): AnyServer | WorkerPool {
  if (options.workers !== null) return makePool(options, options.workers);
  const server = makeServerOf(options);
  // Data fields: worker threads and child processes see them in their copy of the server.
  (server as { whoami?: boolean }).whoami = options.whoami;
  (server as { starttls?: boolean }).starttls = options.starttls;
  return server;
}

function proxyProtocolOf(options: EchoOptions): ProxyProtocolOptions | null {
  if (options.proxyProtocol === null) return null;
  return {
    versions: options.proxyProtocol === "any" ? "any" : [options.proxyProtocol],
    trustedProxies: options.trustedProxies.length > 0 ? options.trustedProxies : null,
  };
}

/** The TLS settings from the files named, read here: a file that cannot be read is a usage error. */
function tlsOf(options: EchoOptions): TlsOptions | null {
  if (options.tlsCert === undefined || options.tlsKey === undefined) return null;
  const read = (flag: string, path: string): string => {
    try {
      return readFileSync(path, "utf8");
    } catch (error) {
      throw new UsageError(`cannot read ${flag} ${path}: ${(error as Error).message}`);
    }
  };
  return {
    cert: read("--tls-cert", options.tlsCert),
    key: read("--tls-key", options.tlsKey),
    ...(options.tlsCa === undefined ? {} : { ca: read("--tls-ca", options.tlsCa), clientCertificates: "require" }),
    ...(options.starttls ? { mode: "starttls" } : {}),
  };
}

/** `--workers N`: the same echo handler in N worker processes. */
function makePool(options: EchoOptions, workers: number): WorkerPool {
  const proxyProtocol = proxyProtocolOf(options);
  const datagram = options.transport === "udp";
  const address = options.transport === "unix" ? options.path as string : [options.host, options.port] as const;
  return new WorkerPool(address, datagram ? DatagramEcho : LineEcho, {
    workers,
    type: datagram ? "datagram" : "stream",
    drainTimeout: 10_000,
    listenFd: options.listenFd,
    serverOptions: datagram ? {} : { ...STREAM_LIMITS, ...(proxyProtocol === null ? {} : { proxyProtocol }) },
    serverFields: { whoami: options.whoami },
  });
}

function makeServerOf(options: EchoOptions): AnyServer {
  const proxyProtocol = proxyProtocolOf(options);
  const tls = tlsOf(options);
  const settings = {
    drainTimeout: 10_000,
    ...(options.listenFd === null ? {} : { listenFd: options.listenFd }),
    ...(proxyProtocol === null ? {} : { proxyProtocol }),
    ...(tls === null ? {} : { tls }),
  };
  const { transport, mode } = options;
  const inet = [options.host, options.port] as const;
  const path = options.path as string;
  if (options.handler === "protocol") {
    // One datagram protocol object per server, in this thread: sync and async are the same here.
    if (transport === "udp") return new UDPProtocolServer(inet, DatagramProtocolEcho, settings);
    if (transport === "unix-dgram") return new UnixDatagramProtocolServer(path, DatagramProtocolEcho, settings);
    return makeStreamServer(options, ProtocolEcho, { ...settings, ...STREAM_LIMITS });
  }
  if (transport === "tcp" || transport === "unix") {
    return makeStreamServer(options, LineEcho, { ...settings, ...STREAM_LIMITS });
  }
  if (mode === "forking") {
    const forking = { ...settings, requestsPerChild: options.requestsPerChild };
    if (transport === "udp") return new ForkingUDPServer(inet, DatagramEcho, forking);
    return new ForkingUnixDatagramServer(path, DatagramEcho, forking);
  }
  if (mode === "threading") {
    if (transport === "udp") return new ThreadingUDPServer(inet, DatagramEcho, settings);
    return new ThreadingUnixDatagramServer(path, DatagramEcho, settings);
  }
  if (mode === "sync") {
    if (transport === "udp") return new UDPServer(inet, DatagramEcho, settings);
    return new UnixDatagramServer(path, DatagramEcho, settings);
  }
  if (transport === "udp") return new AsyncUDPServer(inet, DatagramEcho, settings);
  return new AsyncUnixDatagramServer(path, DatagramEcho, settings);
}

/** A TCP or unix stream server of the mode, with either stream handler shape. */
function makeStreamServer(
  options: EchoOptions,
  Handler: typeof LineEcho | typeof ProtocolEcho,
  settings: TCPServerOptions,
): AnyServer {
  const inet = [options.host, options.port] as const;
  const path = options.path as string;
  const tcp = options.transport === "tcp";
  switch (options.mode) {
    case "forking": {
      const forking = { ...settings, requestsPerChild: options.requestsPerChild };
      return tcp ? new ForkingTCPServer(inet, Handler, forking) : new ForkingUnixStreamServer(path, Handler, forking);
    }
    case "threading":
      return tcp
        ? new ThreadingTCPServer(inet, Handler, settings)
        : new ThreadingUnixStreamServer(path, Handler, settings);
    case "sync":
      return tcp ? new TCPServer(inet, Handler, settings) : new UnixStreamServer(path, Handler, settings);
    default:
      return tcp ? new AsyncTCPServer(inet, Handler, settings) : new AsyncUnixStreamServer(path, Handler, settings);
  }
}

process.exitCode = await serveUntilSignal("echo", () => makeServer(parse(process.argv.slice(2))));
