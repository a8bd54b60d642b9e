/**
 * The calculator of `examples/calc.x` as an ONC RPC server: the README's RPC demo, and the server the rpcgen-generated
 * libtirpc client of `calc.x` talks to.
 *
 * ```
 * deno run -A examples/rpc_calc.ts [options] | bun examples/rpc_calc.ts [options] | node dist/examples/rpc_calc.js [options]
 *   --transport tcp|udp|unix              (default tcp)
 *   --mode sync|async|threading|forking   (default async)
 *   --host HOST (default 127.0.0.1)  --port N (default 0)  --path PATH (unix)
 *   --register                            register with the portmapper at 127.0.0.1:111 (tcp and udp)
 *   --requests-per-child N|Infinity       (forking: calls or connections a child serves before it exits; default 1)
 * ```
 *
 * Prints one line `listening on ADDRESS` when ready (after registering). SIGINT or SIGTERM: unregisters when
 * registered, stops accepting, lets calls in flight finish (up to 10 s), removes the unix socket file, exits 0. Bad
 * options, a failed bind or a refused registration: one line on stderr, exit 2.
 *
 * @module
 */
import process from "node:process";
import {
  AsyncRpcTCPServer,
  AsyncRpcUDPServer,
  AsyncRpcUnixStreamServer,
  type BaseServer,
  ForkingRpcTCPServer,
  ForkingRpcUDPServer,
  ForkingRpcUnixStreamServer,
  RpcTCPServer,
  RpcUDPServer,
  RpcUnixStreamServer,
  ThreadingRpcTCPServer,
  ThreadingRpcUDPServer,
  ThreadingRpcUnixStreamServer,
} from "../mod.ts";
import { CalcDatagram, CalcStream } from "./rpc_calc_handlers.ts";
import { parseRequestsPerChild, UsageError } from "./_options.ts";
import { serveUntilSignal } from "./_serve_until_signal.ts";

const TRANSPORTS = ["tcp", "udp", "unix"] as const;
const MODES = ["sync", "async", "threading", "forking"] as const;
type Transport = typeof TRANSPORTS[number];
type Mode = typeof MODES[number];

/** Parsed command line. */
export interface CalcOptions {
  /** Which socket type. */
  transport: Transport;
  /** Which concurrency model. */
  mode: Mode;
  /** Host for tcp/udp. */
  host: string;
  /** Port for tcp/udp. */
  port: number;
  /** Path for unix. */
  path: string | undefined;
  /** Register with the portmapper. */
  register: boolean;
  /** Forking: calls (udp) or connections a child serves before it exits. */
  requestsPerChild: number;
}

const USAGE = "usage: rpc_calc [--transport tcp|udp|unix] [--mode sync|async|threading|forking] " +
  "[--host HOST] [--port N] [--path PATH] [--register] [--requests-per-child N|Infinity]";

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) {
    throw new UsageError(`${flag} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function parse(argv: readonly string[]): CalcOptions {
  const options: CalcOptions = {
    transport: "tcp",
    mode: "async",
    host: "127.0.0.1",
    port: 0,
    path: undefined,
    register: false,
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
      case "--transport":
        options.transport = oneOf(flag, value(), TRANSPORTS);
        break;
      case "--mode":
        options.mode = oneOf(flag, value(), MODES);
        break;
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
      case "--register":
        options.register = true;
        break;
      case "--requests-per-child":
        options.requestsPerChild = parseRequestsPerChild(value());
        break;
      case "--help":
      case "-h":
        throw new UsageError(USAGE);
      default:
        throw new UsageError(`unknown option ${JSON.stringify(argv[i])} (try --help)`);
    }
  }
  if (options.transport === "unix" && options.path === undefined) {
    throw new UsageError("--path is required with --transport unix");
  }
  if (options.transport === "unix" && options.register) {
    throw new UsageError("--register needs --transport tcp or udp: the portmapper maps ports");
  }
  return options;
}

// deno-lint-ignore no-explicit-any
type AnyServer = BaseServer<any, any, any> & { unregister?(): Promise<void> };

function makeServer(options: CalcOptions): AnyServer {
  const settings = { drainTimeout: 10_000, registerWithPortmapper: options.register };
  const { transport, mode } = options;
  const inet = [options.host, options.port] as const;
  const path = options.path as string;
  if (mode === "forking") {
    const forking = { ...settings, requestsPerChild: options.requestsPerChild };
    if (transport === "tcp") return new ForkingRpcTCPServer(inet, CalcStream, forking);
    if (transport === "unix") return new ForkingRpcUnixStreamServer(path, CalcStream, forking);
    return new ForkingRpcUDPServer(inet, CalcDatagram, forking);
  }
  if (mode === "threading") {
    if (transport === "tcp") return new ThreadingRpcTCPServer(inet, CalcStream, settings);
    if (transport === "unix") return new ThreadingRpcUnixStreamServer(path, CalcStream, settings);
    return new ThreadingRpcUDPServer(inet, CalcDatagram, settings);
  }
  if (mode === "sync") {
    if (transport === "tcp") return new RpcTCPServer(inet, CalcStream, settings);
    if (transport === "unix") return new RpcUnixStreamServer(path, CalcStream, settings);
    return new RpcUDPServer(inet, CalcDatagram, settings);
  }
  if (transport === "tcp") return new AsyncRpcTCPServer(inet, CalcStream, settings);
  if (transport === "unix") return new AsyncRpcUnixStreamServer(path, CalcStream, settings);
  return new AsyncRpcUDPServer(inet, CalcDatagram, settings);
}

// serverClose() unregisters first when registered.
process.exitCode = await serveUntilSignal("rpc_calc", () => makeServer(parse(process.argv.slice(2))));
