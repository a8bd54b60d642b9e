/**
 * The messages a {@link WorkerPool}'s primary and its worker processes exchange over the IPC channel (JSON data).
 *
 * A worker starts, imports its handler class and says `ready`. The primary sends `start` (which server to build and
 * how it gets its connections); the worker binds (or waits for handed-over connections) and says `listening`. With
 * the `handOver` spread, each `connection` message carries one accepted connection. `drain` asks the worker to stop
 * taking requests, let those in flight finish within its `drainTimeout`, and exit with status 0.
 *
 * @module
 */
import type { SocketAddress } from "../transport.ts";

/** How a pool's connections reach its workers. */
export type Spread = "reusePort" | "handOver" | "single";

/** Which kind of server a worker runs. */
export type WorkerServerKind = "tcp" | "unix" | "udp";

/** Primary to worker: build and start the server. */
export interface StartWorker {
  readonly type: "start";
  /** Which server class the worker builds (its async variant). */
  readonly kind: WorkerServerKind;
  /** The address: the one port every worker joins (reusePort), or the primary's address (handOver). */
  readonly address: SocketAddress;
  /** How connections arrive (see {@link Spread}). */
  readonly spread: Spread;
  /** Server options (JSON data), with `drainTimeout` always set. */
  readonly options: Readonly<Record<string, unknown>>;
  /** Data fields set on the worker's server after it is built (what its handlers read from `this.server`). */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** Primary to worker: one accepted connection; the socket travels with the message. */
export interface HandedConnection {
  readonly type: "connection";
  /** The server's end, as the primary saw it. */
  readonly localAddress: SocketAddress;
  /** The client's end, as the primary saw it. */
  readonly remoteAddress: SocketAddress;
}

/** Primary to worker: stop taking requests, drain, exit. */
export interface DrainWorker {
  readonly type: "drain";
}

/** Everything a primary sends. */
export type ToWorker = StartWorker | HandedConnection | DrainWorker;

/** Worker to primary: the worker is serving (bound, or ready for handed-over connections). */
export interface WorkerListening {
  readonly type: "listening";
  /** The address its server has. */
  readonly address: SocketAddress;
}

/** Worker to primary: the server could not start (the worker exits with status 1). */
export interface WorkerFailed {
  readonly type: "startFailed";
  readonly error: string;
}

/**
 * Everything a worker sends: `ready` once its handler class is loaded, or `failed` (with the `HandlerLoadError`
 * message) when it could not be, as every child does; then its own messages.
 */
export type FromWorker =
  | { readonly type: "ready" }
  | { readonly type: "failed"; readonly error: string }
  | WorkerListening
  | WorkerFailed;
