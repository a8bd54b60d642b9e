/**
 * The options of a `WorkerPool`, and how its constructor checks and settles them.
 *
 * @module
 */
import { checkInetAddress, checkUnixPath } from "../address.ts";
import { UnsupportedError } from "../errors.ts";
import type { InetAddress, Runtime, UnixAddress } from "../transport.ts";
import type { WorkerServerKind } from "./protocol.ts";

/** How a pool spreads its work: see the module documentation. */
export type PoolSpread = "reusePort" | "handOver" | "single";

/** Options of a `WorkerPool`. */
export interface WorkerPoolOptions {
  /** Worker processes (default: the number of cores, `availableParallelism()`). From 1 to 1024. */
  workers?: number;
  /** `"stream"` (default: TCP, or unix stream for a path) or `"datagram"` (UDP). */
  type?: "stream" | "datagram";
  /** How work is spread (default: `reusePort` where the runtime has it, see the module documentation). */
  spread?: PoolSpread;
  /**
   * Milliseconds a draining worker (at `serverClose()`, SIGTERM or `reload()`) gives its requests in flight before
   * it aborts them. Default 10 000.
   */
  drainTimeout?: number;
  /**
   * Serve this inherited listening socket (systemd socket activation, a parent process) instead of binding
   * `serverAddress`: the primary listens on it and hands connections over. Default `null`.
   */
  listenFd?: number | null;
  /** Listen backlog of the primary's socket (`handOver`) or of each worker's. Default 511. */
  requestQueueSize?: number;
  /**
   * Options of each worker's server (JSON data): `lineTimeout`, `idleTimeout`, `maxConcurrentRequests`,
   * `maxConnectionsPerAddress`, `proxyProtocol`, `maxPacketSize`, …, as the async server classes take them.
   */
  serverOptions?: Readonly<Record<string, unknown>>;
  /**
   * Data fields (JSON) set on each worker's server once built, for its handlers to read from `this.server`, as a
   * forking server's children see its fields.
   */
  serverFields?: Readonly<Record<string, unknown>>;
  /**
   * Deno flags of each worker (Bun and Node ignore them). Default `["--allow-net"]` (plus `--unstable-net` for UDP):
   * a worker can bind and serve, and nothing more. Give the permissions your handler needs, `--allow-net` included.
   */
  workerPermissions?: readonly string[];
  /** The runtime adapter; by default the detected one. It must be able to start child processes. */
  runtime?: Runtime;
}

/** What a `WorkerPool`'s constructor settles from its arguments. */
export interface SettledPoolOptions {
  readonly kind: WorkerServerKind;
  readonly serverAddress: InetAddress | UnixAddress;
  readonly workers: number;
  readonly drainTimeout: number;
  readonly spread: PoolSpread;
}

/**
 * Checks a pool's address and options against each other and the runtime, and settles the defaults.
 *
 * @throws {TypeError} or {RangeError} for bad options; {UnsupportedError} for combinations the runtime cannot serve
 */
export function settlePoolOptions(
  serverAddress: InetAddress | UnixAddress,
  options: WorkerPoolOptions,
  runtime: Runtime,
): SettledPoolOptions {
  let kind: WorkerServerKind;
  let checkedAddress: InetAddress | UnixAddress;
  const type = options.type ?? "stream";
  if (type !== "stream" && type !== "datagram") {
    throw new TypeError(`type must be "stream" or "datagram", got ${JSON.stringify(type)}`);
  }
  const listenFd = options.listenFd ?? null;
  if (listenFd !== null && (!Number.isInteger(listenFd) || listenFd < 0)) {
    throw new RangeError(`listenFd must be a non-negative integer (a file descriptor), got ${listenFd}`);
  }
  if (typeof serverAddress === "string") {
    if (type === "datagram") {
      throw new UnsupportedError("a worker pool serves UDP datagrams, not unix datagrams: give [host, port]");
    }
    kind = "unix";
    checkedAddress = listenFd === null ? checkUnixPath(serverAddress, "server address") : serverAddress;
  } else {
    kind = type === "datagram" ? "udp" : "tcp";
    checkedAddress = listenFd === null ? checkInetAddress(serverAddress, "server address") : serverAddress;
  }
  if (listenFd !== null && kind === "udp") {
    throw new UnsupportedError("listenFd serves an inherited stream socket; a datagram pool binds its own");
  }
  const workers = options.workers ?? runtime.availableParallelism?.() ?? 1;
  if (!Number.isInteger(workers) || workers < 1 || workers > 1024) {
    throw new RangeError(`workers must be an integer from 1 to 1024, got ${workers}`);
  }
  const drainTimeout = options.drainTimeout ?? 10_000;
  if (!Number.isFinite(drainTimeout) || drainTimeout < 0) {
    throw new RangeError(`drainTimeout must be a non-negative number of milliseconds, got ${drainTimeout}`);
  }
  const reusePort = runtime.reusePort;
  const canReuse = kind === "udp" ? reusePort?.datagram === true : reusePort?.stream === true;
  const spread = options.spread ??
    (kind === "udp"
      ? (canReuse ? "reusePort" : "single")
      : kind === "tcp" && canReuse && listenFd === null
      ? "reusePort"
      : "handOver");
  if (spread !== "reusePort" && spread !== "handOver" && spread !== "single") {
    throw new TypeError(`spread must be "reusePort", "handOver" or "single", got ${JSON.stringify(spread)}`);
  }
  if (spread === "reusePort" && (!canReuse || kind === "unix" || listenFd !== null)) {
    throw new UnsupportedError(
      kind === "unix" || listenFd !== null
        ? "spread reusePort needs a [host, port] address the workers bind: use handOver"
        : `spread reusePort: the ${runtime.name} runtime adapter has no SO_REUSEPORT for ${kind} here`,
    );
  }
  if (spread === "handOver" && kind === "udp") {
    throw new UnsupportedError("datagrams cannot be handed over: use reusePort (where available) or single");
  }
  return { kind, serverAddress: checkedAddress, workers: spread === "single" ? 1 : workers, drainTimeout, spread };
}
