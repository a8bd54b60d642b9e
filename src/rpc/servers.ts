/**
 * The RPC servers: TCP, UDP and unix stream, in every mode (one at a time, async, threading, forking). Each is the
 * library's server of that kind with the RPC settings added; its handler is an {@link RpcStreamHandler} or
 * {@link RpcDatagramHandler} subclass (or, for the modes that run handlers here, just the programs).
 *
 * @module
 */
import type { RequestHandlerClass } from "../base_request_handler.ts";
import type { Connection } from "../connection.ts";
import type { DatagramRequest } from "../datagram_request_handler.ts";
import { AsyncMixIn, type AsyncOptions, type AsyncServer } from "../mixins/async.ts";
import { ForkingMixIn } from "../mixins/forking.ts";
import type { ForkingOptions, ForkingServer } from "../forking/options.ts";
import type { ServerClass } from "../mixins/server_class.ts";
import { ThreadingMixIn, type ThreadingOptions, type ThreadingServer } from "../mixins/threading.ts";
import { TCPServer, type TCPServerOptions, UnixStreamServer } from "../tcp_server.ts";
import type { InetAddress, Runtime, SocketAddress, UnixAddress } from "../transport.ts";
import { UDPServer, type UDPServerOptions } from "../udp_server.ts";
import { dispatcherOf, RpcDatagramHandler, type RpcHandlerClass, RpcStreamHandler } from "./handlers.ts";
import type { RpcProgram } from "./program.ts";
import { DuplicateRequestCache, type DuplicateRequestCacheOptions, withDuplicateRequestCache } from "./drc.ts";
import { IPPROTO, pmapSet, pmapUnset, type PortmapperOptions } from "./portmap.ts";
import { DEFAULT_RECORD_LIMITS } from "./record.ts";

/** The RPC settings of a server. Each may also be set as a subclass field. */
export interface RpcServerOptions {
  /** Stream servers: largest record, checked from the fragment headers before buffering (default 1 MiB). */
  maxRecordSize?: number;
  /** Stream servers: most fragments in a record (default 1024). */
  maxFragments?: number;
  /** Stream servers: ms a connection may stay idle between records, then it is closed (default 120,000; `null`: no limit). */
  idleTimeout?: number | null;
  /** Stream servers: ms from a record's first byte to its last, then the connection is closed (default 30,000; `null`). */
  recordTimeout?: number | null;
  /** UDP servers: longest reply datagram (default 65,507 over IPv4, 65,527 over IPv6; `null`: those). */
  maxReplySize?: number | null;
  /** Register the served programs with the portmapper once listening, and unregister them at close (default `false`). */
  registerWithPortmapper?: boolean;
  /** Where the portmapper is (default 127.0.0.1:111, over UDP). */
  portmapper?: PortmapperOptions | null;
  /**
   * UDP servers: the duplicate-request cache's bounds (default 1024 calls, 120 s, 4 MiB of replies); `null` turns it
   * off. A retransmitted call is answered from it, or dropped while the first copy runs, not executed twice.
   */
  duplicateRequestCache?: DuplicateRequestCacheOptions | null;
}

/** What the RPC settings add to a server. */
export interface RpcServer {
  /** Largest record (stream servers). */
  maxRecordSize: number;
  /** Most fragments per record (stream servers). */
  maxFragments: number;
  /** Idle limit between records, in ms (stream servers). */
  idleTimeout: number | null;
  /** Limit on one record's arrival, in ms (stream servers). */
  recordTimeout: number | null;
  /** Longest reply datagram (UDP servers); `null`: the IP limit. */
  maxReplySize: number | null;
  /** Register with the portmapper at listen, unregister at close. */
  registerWithPortmapper: boolean;
  /** Where the portmapper is; `null`: 127.0.0.1:111. */
  portmapper: PortmapperOptions | null;
  /** The duplicate-request cache's bounds (UDP servers); `null`: off. */
  duplicateRequestCache: DuplicateRequestCacheOptions | null;
  /** The duplicate-request cache in use (UDP servers, once bound), else `null`. */
  readonly duplicateRequests: DuplicateRequestCache | null;
  /** The (program, version) pairs the server's handler serves. */
  readonly registrations: Array<readonly [program: number, version: number]>;
  /**
   * Registers every served (program, version) with the portmapper (PMAPPROC_SET over UDP), for this server's
   * protocol and port.
   *
   * @throws {RpcRegistrationError} when the portmapper refuses a mapping (one exists already) or cannot be reached
   */
  register(): Promise<void>;
  /** Removes the served programs' mappings from the portmapper (PMAPPROC_UNSET: every protocol). */
  unregister(): Promise<void>;
}

/** The portmapper refused a registration, or could not be reached. */
export class RpcRegistrationError extends Error {
  /**
   * Makes the error.
   *
   * @param message what was refused, and what to do
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RpcRegistrationError";
  }
}

/** A handler class for RPC servers, or the programs alone (a handler class is made for them). */
export type RpcStreamHandlerArgument = RequestHandlerClass<Connection, SocketAddress> | readonly RpcProgram[];
/** A handler class for RPC datagram servers, or the programs alone. */
export type RpcDatagramHandlerArgument =
  | RequestHandlerClass<DatagramRequest, SocketAddress | null>
  | readonly RpcProgram[];

function streamHandler(argument: RpcStreamHandlerArgument): RequestHandlerClass<Connection, SocketAddress> {
  if (!Array.isArray(argument)) return argument as RequestHandlerClass<Connection, SocketAddress>;
  const programs = argument as readonly RpcProgram[];
  return class RpcPrograms extends RpcStreamHandler {
    static override programs: readonly RpcProgram[] = programs;
  };
}

function datagramHandler(
  argument: RpcDatagramHandlerArgument,
): RequestHandlerClass<DatagramRequest, SocketAddress | null> {
  if (!Array.isArray(argument)) return argument as RequestHandlerClass<DatagramRequest, SocketAddress | null>;
  const programs = argument as readonly RpcProgram[];
  return class RpcPrograms extends RpcDatagramHandler {
    static override programs: readonly RpcProgram[] = programs;
  };
}

/**
 * Adds the RPC settings to a server class: the limits as fields (copied to worker threads and child processes with
 * the server's other data fields), and `registrations`.
 */
// deno-lint-ignore no-explicit-any
export function RpcServerMixIn<Base extends ServerClass>(base: Base): Base & (new (...args: any[]) => RpcServer) {
  class RpcServerMixIn extends base implements RpcServer {
    declare maxRecordSize: number;
    declare maxFragments: number;
    declare idleTimeout: number | null;
    declare recordTimeout: number | null;
    declare maxReplySize: number | null;
    static {
      this.prototype.maxRecordSize = DEFAULT_RECORD_LIMITS.maxRecordSize;
      this.prototype.maxFragments = DEFAULT_RECORD_LIMITS.maxFragments;
      this.prototype.idleTimeout = DEFAULT_RECORD_LIMITS.idleTimeout;
      this.prototype.recordTimeout = DEFAULT_RECORD_LIMITS.recordTimeout;
      this.prototype.maxReplySize = null;
    }

    declare registerWithPortmapper: boolean;
    declare portmapper: PortmapperOptions | null;
    declare duplicateRequestCache: DuplicateRequestCacheOptions | null;
    #registered = false;
    #cached: { base: Runtime; runtime: Runtime; cache: DuplicateRequestCache } | undefined;
    static {
      this.prototype.registerWithPortmapper = false;
      this.prototype.portmapper = null;
      this.prototype.duplicateRequestCache = Object.freeze({});
    }

    /** The runtime, with UDP sockets going through the duplicate-request cache when it is on. */
    override get runtime(): Runtime {
      const base = super.runtime;
      const settings = this.duplicateRequestCache;
      if ((this as { transport?: string }).transport !== "udp" || settings === null) return base;
      if (this.#cached?.base !== base) {
        const cache = new DuplicateRequestCache(settings);
        this.#cached = { base, runtime: withDuplicateRequestCache(base, cache), cache };
      }
      return this.#cached.runtime;
    }

    get duplicateRequests(): DuplicateRequestCache | null {
      return this.#cached?.cache ?? null;
    }

    get registrations(): Array<readonly [number, number]> {
      return dispatcherOf((this as unknown as { RequestHandlerClass: RpcHandlerClass }).RequestHandlerClass)
        .registrations;
    }

    async register(): Promise<void> {
      const address = this.serverAddress;
      if (!Array.isArray(address)) {
        throw new RpcRegistrationError("a unix socket server has no port to register with the portmapper");
      }
      const transport = (this as { transport?: string }).transport;
      const prot = transport === "udp" ? IPPROTO.UDP : IPPROTO.TCP;
      const where = this.portmapper ?? {};
      for (const [prog, vers] of this.registrations) {
        let accepted: boolean;
        try {
          accepted = await pmapSet({ prog, vers, prot, port: address[1] }, where);
        } catch (error) {
          throw new RpcRegistrationError(
            `cannot register program ${prog} version ${vers}: the portmapper at ${where.host ?? "127.0.0.1"}:${
              where.port ?? 111
            } did not answer (${error instanceof Error ? error.message : error})`,
            { cause: error },
          );
        }
        if (!accepted) {
          throw new RpcRegistrationError(
            `the portmapper refused program ${prog} version ${vers} over ${transport}: it is registered already ` +
              `(remove it with \`rpcinfo -d ${prog} ${vers}\`) or the caller is not local`,
          );
        }
        this.#registered = true;
      }
    }

    async unregister(): Promise<void> {
      this.#registered = false;
      for (const [prog, vers] of this.registrations) await pmapUnset(prog, vers, this.portmapper ?? {});
    }

    override async serverActivate(): Promise<void> {
      await super.serverActivate();
      this.applyOptions();
      if (this.registerWithPortmapper) await this.register();
    }

    override async serverClose(): Promise<void> {
      if (this.#registered) {
        try {
          await this.unregister();
        } catch (error) {
          await this.handleError(null, null, error);
        }
      }
      await super.serverClose();
    }
  }
  return RpcServerMixIn;
}

/** `RpcServerMixIn(TCPServer)`, the class {@link RpcTCPServer} extends. */
// deno-lint-ignore no-explicit-any
export const RpcTCPServerBase: typeof TCPServer & (new (...args: any[]) => RpcServer) = RpcServerMixIn(TCPServer);

/**
 * An RPC server over TCP, one connection at a time (Python's default; see {@link AsyncRpcTCPServer} for many).
 *
 * @example
 * ```ts ignore
 * await using server = await new RpcTCPServer(["127.0.0.1", 0], [calc]).listen();
 * ```
 */
export class RpcTCPServer extends RpcTCPServerBase {
  /**
   * Stores the address, handler and options; `listen()` binds.
   *
   * @param serverAddress `[host, port]`
   * @param handler an {@link RpcStreamHandler} subclass, or the programs to serve
   * @param options stream server and RPC options
   */
  constructor(
    serverAddress: InetAddress,
    handler: RpcStreamHandlerArgument,
    options: TCPServerOptions & RpcServerOptions = {},
  ) {
    super(serverAddress, streamHandler(handler), options);
  }
}

/** `RpcServerMixIn(UnixStreamServer)`, the class {@link RpcUnixStreamServer} extends. */
// deno-lint-ignore no-explicit-any
export const RpcUnixStreamServerBase: typeof UnixStreamServer & (new (...args: any[]) => RpcServer) = RpcServerMixIn(
  UnixStreamServer,
);

/** An RPC server over a unix stream socket, one connection at a time. */
export class RpcUnixStreamServer extends RpcUnixStreamServerBase {
  /**
   * Stores the path, handler and options; `listen()` binds.
   *
   * @param serverAddress the socket path
   * @param handler an {@link RpcStreamHandler} subclass, or the programs to serve
   * @param options stream server and RPC options
   */
  constructor(
    serverAddress: UnixAddress,
    handler: RpcStreamHandlerArgument,
    options: TCPServerOptions & RpcServerOptions = {},
  ) {
    super(serverAddress, streamHandler(handler), options);
  }
}

/** `RpcServerMixIn(UDPServer)`, the class {@link RpcUDPServer} extends. */
// deno-lint-ignore no-explicit-any
export const RpcUDPServerBase: typeof UDPServer & (new (...args: any[]) => RpcServer) = RpcServerMixIn(UDPServer);

/** An RPC server over UDP, one datagram at a time. */
export class RpcUDPServer extends RpcUDPServerBase {
  /**
   * Stores the address, handler and options; `listen()` binds.
   *
   * @param serverAddress `[host, port]`
   * @param handler an {@link RpcDatagramHandler} subclass, or the programs to serve
   * @param options datagram server and RPC options
   */
  constructor(
    serverAddress: InetAddress,
    handler: RpcDatagramHandlerArgument,
    options: UDPServerOptions & RpcServerOptions = {},
  ) {
    super(serverAddress, datagramHandler(handler), options);
  }
}

// The modes, each over the three transports. The mix-ins keep the constructor of the class they extend.

/** `AsyncMixIn(RpcTCPServer)`, the class {@link AsyncRpcTCPServer} extends. */
// deno-lint-ignore no-explicit-any
export const AsyncRpcTCPServerBase: typeof RpcTCPServer & (new (...args: any[]) => AsyncServer) = AsyncMixIn(
  RpcTCPServer,
);
/** An RPC server over TCP serving connections concurrently on the event loop. */
export class AsyncRpcTCPServer extends AsyncRpcTCPServerBase {
  /** As {@link RpcTCPServer}, with `maxConcurrentRequests`. */
  constructor(
    serverAddress: InetAddress,
    handler: RpcStreamHandlerArgument,
    options: TCPServerOptions & RpcServerOptions & AsyncOptions = {},
  ) {
    super(serverAddress, handler, options);
  }
}

/** `AsyncMixIn(RpcUnixStreamServer)`, the class {@link AsyncRpcUnixStreamServer} extends. */
// deno-lint-ignore no-explicit-any
export const AsyncRpcUnixStreamServerBase: typeof RpcUnixStreamServer & (new (...args: any[]) => AsyncServer) =
  AsyncMixIn(RpcUnixStreamServer);
/** An RPC server over a unix stream socket serving connections concurrently on the event loop. */
export class AsyncRpcUnixStreamServer extends AsyncRpcUnixStreamServerBase {
  /** As {@link RpcUnixStreamServer}, with `maxConcurrentRequests`. */
  constructor(
    serverAddress: UnixAddress,
    handler: RpcStreamHandlerArgument,
    options: TCPServerOptions & RpcServerOptions & AsyncOptions = {},
  ) {
    super(serverAddress, handler, options);
  }
}

/** `AsyncMixIn(RpcUDPServer)`, the class {@link AsyncRpcUDPServer} extends. */
// deno-lint-ignore no-explicit-any
export const AsyncRpcUDPServerBase: typeof RpcUDPServer & (new (...args: any[]) => AsyncServer) = AsyncMixIn(
  RpcUDPServer,
);
/** An RPC server over UDP serving datagrams concurrently on the event loop. */
export class AsyncRpcUDPServer extends AsyncRpcUDPServerBase {
  /** As {@link RpcUDPServer}, with `maxConcurrentRequests`. */
  constructor(
    serverAddress: InetAddress,
    handler: RpcDatagramHandlerArgument,
    options: UDPServerOptions & RpcServerOptions & AsyncOptions = {},
  ) {
    super(serverAddress, handler, options);
  }
}

/** `ThreadingMixIn(RpcTCPServer)`, the class {@link ThreadingRpcTCPServer} extends. */
// deno-lint-ignore no-explicit-any
export const ThreadingRpcTCPServerBase: typeof RpcTCPServer & (new (...args: any[]) => ThreadingServer) =
  ThreadingMixIn(RpcTCPServer);
/** An RPC server over TCP serving each connection in a worker thread (the handler class must have `moduleUrl`). */
export class ThreadingRpcTCPServer extends ThreadingRpcTCPServerBase {
  /** As {@link RpcTCPServer}, with the threading options; the handler must be importable by URL. */
  constructor(
    serverAddress: InetAddress,
    handler: RequestHandlerClass<Connection, SocketAddress>,
    options: TCPServerOptions & RpcServerOptions & ThreadingOptions = {},
  ) {
    super(serverAddress, handler, options);
  }
}

/** `ThreadingMixIn(RpcUnixStreamServer)`, the class {@link ThreadingRpcUnixStreamServer} extends. */
// deno-lint-ignore no-explicit-any
export const ThreadingRpcUnixStreamServerBase: typeof RpcUnixStreamServer & (new (...args: any[]) => ThreadingServer) =
  ThreadingMixIn(RpcUnixStreamServer);
/** An RPC server over a unix stream socket serving each connection in a worker thread. */
export class ThreadingRpcUnixStreamServer extends ThreadingRpcUnixStreamServerBase {
  /** As {@link RpcUnixStreamServer}, with the threading options; the handler must be importable by URL. */
  constructor(
    serverAddress: UnixAddress,
    handler: RequestHandlerClass<Connection, SocketAddress>,
    options: TCPServerOptions & RpcServerOptions & ThreadingOptions = {},
  ) {
    super(serverAddress, handler, options);
  }
}

/** `ThreadingMixIn(RpcUDPServer)`, the class {@link ThreadingRpcUDPServer} extends. */
// deno-lint-ignore no-explicit-any
export const ThreadingRpcUDPServerBase: typeof RpcUDPServer & (new (...args: any[]) => ThreadingServer) =
  ThreadingMixIn(RpcUDPServer);
/** An RPC server over UDP serving each datagram in a worker thread. */
export class ThreadingRpcUDPServer extends ThreadingRpcUDPServerBase {
  /** As {@link RpcUDPServer}, with the threading options; the handler must be importable by URL. */
  constructor(
    serverAddress: InetAddress,
    handler: RequestHandlerClass<DatagramRequest, SocketAddress | null>,
    options: UDPServerOptions & RpcServerOptions & ThreadingOptions = {},
  ) {
    super(serverAddress, handler, options);
  }
}

/** `ForkingMixIn(RpcTCPServer)`, the class {@link ForkingRpcTCPServer} extends. */
// deno-lint-ignore no-explicit-any
export const ForkingRpcTCPServerBase: typeof RpcTCPServer & (new (...args: any[]) => ForkingServer) = ForkingMixIn(
  RpcTCPServer,
);
/** An RPC server over TCP serving each connection in a child process (the handler class must have `moduleUrl`). */
export class ForkingRpcTCPServer extends ForkingRpcTCPServerBase {
  /** As {@link RpcTCPServer}, with the forking options; the handler must be importable by URL. */
  constructor(
    serverAddress: InetAddress,
    handler: RequestHandlerClass<Connection, SocketAddress>,
    options: TCPServerOptions & RpcServerOptions & ForkingOptions = {},
  ) {
    super(serverAddress, handler, options);
  }
}

/** `ForkingMixIn(RpcUnixStreamServer)`, the class {@link ForkingRpcUnixStreamServer} extends. */
// deno-lint-ignore no-explicit-any
export const ForkingRpcUnixStreamServerBase: typeof RpcUnixStreamServer & (new (...args: any[]) => ForkingServer) =
  ForkingMixIn(RpcUnixStreamServer);
/** An RPC server over a unix stream socket serving each connection in a child process. */
export class ForkingRpcUnixStreamServer extends ForkingRpcUnixStreamServerBase {
  /** As {@link RpcUnixStreamServer}, with the forking options; the handler must be importable by URL. */
  constructor(
    serverAddress: UnixAddress,
    handler: RequestHandlerClass<Connection, SocketAddress>,
    options: TCPServerOptions & RpcServerOptions & ForkingOptions = {},
  ) {
    super(serverAddress, handler, options);
  }
}

/** `ForkingMixIn(RpcUDPServer)`, the class {@link ForkingRpcUDPServer} extends. */
// deno-lint-ignore no-explicit-any
export const ForkingRpcUDPServerBase: typeof RpcUDPServer & (new (...args: any[]) => ForkingServer) = ForkingMixIn(
  RpcUDPServer,
);
/** An RPC server over UDP serving each datagram in a child process. */
export class ForkingRpcUDPServer extends ForkingRpcUDPServerBase {
  /** As {@link RpcUDPServer}, with the forking options; the handler must be importable by URL. */
  constructor(
    serverAddress: InetAddress,
    handler: RequestHandlerClass<DatagramRequest, SocketAddress | null>,
    options: UDPServerOptions & RpcServerOptions & ForkingOptions = {},
  ) {
    super(serverAddress, handler, options);
  }
}
