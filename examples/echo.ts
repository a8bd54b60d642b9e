/**
 * A command-line echo server: the README's demo.
 *
 * ```
 * deno run -A examples/echo.ts [options] | bun examples/echo.ts [options] | node dist/examples/echo.js [options]
 *   --transport tcp|udp|unix|unix-dgram   (default tcp)
 *   --mode sync|async|threading|forking   (default async)
 *   --host HOST (default 127.0.0.1)  --port N (default 0)  --path PATH (unix transports)
 *   --requests-per-child N   (forking: requests a child process serves before it exits; default 1)
 * ```
 *
 * Prints one line `listening on ADDRESS` when ready. SIGINT or SIGTERM: stops accepting, lets requests in flight
 * finish (up to 10 s), removes the unix socket file, exits 0. Bad options or a failed bind: one line on stderr, exit 2.
 *
 * @module
 */
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
  formatAddress,
  TCPServer,
  ThreadingTCPServer,
  ThreadingUDPServer,
  ThreadingUnixDatagramServer,
  ThreadingUnixStreamServer,
  UDPServer,
  UnixDatagramServer,
  UnixStreamServer,
} from "../mod.ts";
import { DatagramEcho, LineEcho } from "./echo_handlers.ts";

const TRANSPORTS = ["tcp", "udp", "unix", "unix-dgram"] as const;
const MODES = ["sync", "async", "threading", "forking"] as const;
type Transport = typeof TRANSPORTS[number];
type Mode = typeof MODES[number];

/** Parsed command line. */
export interface EchoOptions {
  /** Which socket type. */
  transport: Transport;
  /** Which concurrency model. */
  mode: Mode;
  /** Host for tcp/udp. */
  host: string;
  /** Port for tcp/udp. */
  port: number;
  /** Path for unix transports. */
  path: string | undefined;
  /** Forking: requests a child process serves before it exits. */
  requestsPerChild: number;
}

class UsageError extends Error {}

function parse(argv: readonly string[]): EchoOptions {
  const options: EchoOptions = {
    transport: "tcp",
    mode: "async",
    host: "127.0.0.1",
    port: 0,
    path: undefined,
    requestsPerChild: 1,
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
      case "--requests-per-child": {
        const text = value();
        const count = /^[1-9]\d*$/.test(text) ? Number(text) : NaN;
        if (!Number.isSafeInteger(count)) {
          throw new UsageError(`--requests-per-child must be a positive integer, got ${JSON.stringify(text)}`);
        }
        options.requestsPerChild = count;
        break;
      }
      case "--help":
      case "-h":
        throw new UsageError(
          "usage: echo [--transport tcp|udp|unix|unix-dgram] [--mode sync|async|threading|forking] " +
            "[--host HOST] [--port N] [--path PATH] [--requests-per-child N]",
        );
      default:
        throw new UsageError(`unknown option ${JSON.stringify(argv[i])} (try --help)`);
    }
  }
  const unix = options.transport === "unix" || options.transport === "unix-dgram";
  if (unix && options.path === undefined) {
    throw new UsageError(`--path is required with --transport ${options.transport}`);
  }
  return options;
}

// deno-lint-ignore no-explicit-any
type AnyServer = BaseServer<any, any, any>;

/**
 * Limits for stream connections on top of the defaults (a line begun must end within 60 s): a client silent for
 * 5 minutes is let go, and one address may hold at most 256 connections (see "Limits and timeouts").
 */
const STREAM_LIMITS = { idleTimeout: 300_000, maxConnectionsPerAddress: 256 };

function makeServer(options: EchoOptions): AnyServer {
  const settings = { drainTimeout: 10_000 };
  const stream = { ...settings, ...STREAM_LIMITS };
  const { transport, mode } = options;
  const inet = [options.host, options.port] as const;
  const path = options.path as string;
  if (mode === "forking") {
    const forking = { ...settings, requestsPerChild: options.requestsPerChild };
    if (transport === "tcp") return new ForkingTCPServer(inet, LineEcho, { ...forking, ...STREAM_LIMITS });
    if (transport === "unix") return new ForkingUnixStreamServer(path, LineEcho, { ...forking, ...STREAM_LIMITS });
    if (transport === "udp") return new ForkingUDPServer(inet, DatagramEcho, forking);
    return new ForkingUnixDatagramServer(path, DatagramEcho, forking);
  }
  if (mode === "threading") {
    if (transport === "tcp") return new ThreadingTCPServer(inet, LineEcho, stream);
    if (transport === "unix") return new ThreadingUnixStreamServer(path, LineEcho, stream);
    if (transport === "udp") return new ThreadingUDPServer(inet, DatagramEcho, settings);
    return new ThreadingUnixDatagramServer(path, DatagramEcho, settings);
  }
  if (mode === "sync") {
    if (transport === "tcp") return new TCPServer(inet, LineEcho, stream);
    if (transport === "unix") return new UnixStreamServer(path, LineEcho, stream);
    if (transport === "udp") return new UDPServer(inet, DatagramEcho, settings);
    return new UnixDatagramServer(path, DatagramEcho, settings);
  }
  if (transport === "tcp") return new AsyncTCPServer(inet, LineEcho, stream);
  if (transport === "unix") return new AsyncUnixStreamServer(path, LineEcho, stream);
  if (transport === "udp") return new AsyncUDPServer(inet, DatagramEcho, settings);
  return new AsyncUnixDatagramServer(path, DatagramEcho, settings);
}

async function main(argv: readonly string[]): Promise<number> {
  let server: AnyServer;
  try {
    server = makeServer(parse(argv));
    await server.listen();
  } catch (error) {
    console.error(`echo: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void server.shutdown();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  console.log(`listening on ${formatAddress(server.serverAddress)}`);
  await server.serveForever();
  await server.serverClose();
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
