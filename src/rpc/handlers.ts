/**
 * The RPC request handlers: `RpcStreamHandler` (TCP and unix stream, record marking, pipelined calls) and
 * `RpcDatagramHandler` (UDP, one call per datagram). Each serves the programs of its class's `programs`.
 *
 * @module
 */
import { DatagramRequestHandler } from "../datagram_request_handler.ts";
import { StreamRequestHandler } from "../stream_request_handler.ts";
import { MAX_UDP_REPLY_IPV4, MAX_UDP_REPLY_IPV6 } from "./constants.ts";
import { Dispatcher, type DispatchOptions } from "./dispatch.ts";
import type { RpcCallContext, RpcProgram } from "./program.ts";
import type { TlsInfo } from "../tls/info.ts";
import { DEFAULT_RECORD_LIMITS, type RecordLimits, RecordReader } from "./record.ts";

/** What an RPC handler class carries: the programs it serves. */
export interface RpcHandlerClass {
  /** The programs served (made by `implement`). */
  readonly programs: readonly RpcProgram[];
}

const dispatchers = new WeakMap<readonly RpcProgram[], Dispatcher>();

/** The dispatcher of a handler class's programs, made once per programs array. */
export function dispatcherOf(handlerClass: RpcHandlerClass): Dispatcher {
  const programs = handlerClass.programs;
  if (!Array.isArray(programs) || programs.length === 0) {
    throw new TypeError(
      `${(handlerClass as { name?: string }).name ?? "the RPC handler"} serves no program: ` +
        "set `static override programs = [implement(...)]`",
    );
  }
  let dispatcher = dispatchers.get(programs);
  if (dispatcher === undefined) dispatchers.set(programs, dispatcher = new Dispatcher(programs));
  return dispatcher;
}

/** A setting of the server (or its view in a worker or child), when it is a number or `null`. */
function setting(server: unknown, key: string, fallback: number | null): number | null {
  const value = (server as Record<string, unknown> | null)?.[key];
  return typeof value === "number" || value === null ? value : fallback;
}

/** Reports an error to the server's `handleError` where the server is here; else keeps it to throw at the end. */
class ErrorSink {
  first: unknown = undefined;
  failed = false;
  readonly server: unknown;
  readonly request: unknown;
  readonly clientAddress: unknown;

  constructor(server: unknown, request: unknown, clientAddress: unknown) {
    this.server = server;
    this.request = request;
    this.clientAddress = clientAddress;
  }

  report(error: unknown): void {
    const handleError = (this.server as { handleError?: unknown } | null)?.handleError;
    if (typeof handleError === "function") {
      void Promise.resolve(handleError.call(this.server, this.request, this.clientAddress, error)).catch(() => {});
      return;
    }
    if (!this.failed) {
      this.failed = true;
      this.first = error;
    }
  }
}

/**
 * The handler of RPC over TCP and unix stream sockets: reads records (several calls may be pipelined on one
 * connection), answers each in turn, and closes the connection on a record that breaks a limit (`maxRecordSize`,
 * `maxFragments`, `idleTimeout`, `recordTimeout` of the server; defaults 1 MiB, 1024, 2 min, 30 s).
 *
 * Subclass it with `static override programs = [...]`; for worker threads and child processes also set
 * `static override moduleUrl = import.meta.url` and export the class.
 *
 * @example
 * ```ts ignore
 * export class CalcStream extends RpcStreamHandler {
 *   static override programs = [calc];
 *   static override moduleUrl = import.meta.url;
 * }
 * ```
 */
export class RpcStreamHandler<Server = unknown> extends StreamRequestHandler<Server> {
  /** The programs this handler serves. */
  static programs: readonly RpcProgram[] = [];

  /**
   * Decides whether a call may run, after its credential was parsed and checked and its procedure found: return an
   * `auth_stat` (such as `AUTH_STAT.AUTH_TOOWEAK`) to refuse it with AUTH_ERROR, or nothing to let it run.
   */
  authenticate(_call: RpcCallContext): number | undefined | void | Promise<number | undefined | void> {
    return undefined;
  }

  /** Serves records until the client closes, a limit is broken, or the connection fails. */
  override async handle(): Promise<void> {
    const dispatcher = dispatcherOf(this.constructor as unknown as RpcHandlerClass);
    const server = this.server;
    const limits: RecordLimits = {
      maxRecordSize: setting(server, "maxRecordSize", DEFAULT_RECORD_LIMITS.maxRecordSize)!,
      maxFragments: setting(server, "maxFragments", DEFAULT_RECORD_LIMITS.maxFragments)!,
      idleTimeout: setting(server, "idleTimeout", DEFAULT_RECORD_LIMITS.idleTimeout),
      recordTimeout: setting(server, "recordTimeout", DEFAULT_RECORD_LIMITS.recordTimeout),
    };
    const sink = new ErrorSink(server, this.request, this.clientAddress);
    const connection = this.connection;
    const options: DispatchOptions = {
      framed: true,
      maxReplySize: 0x7fff_ffff,
      clientAddress: this.clientAddress,
      transport: (server as { transport?: string } | null)?.transport,
      handler: this,
      // Read at each call: a STARTTLS upgrade secures a connection part-way.
      get tls(): TlsInfo | null {
        return connection.tls;
      },
      authenticate: (call) => this.authenticate(call),
      reportError: (error) => sink.report(error),
    };
    const records = new RecordReader(this.rfile, limits);
    try {
      for (;;) {
        // Awaited only when pending: a pipelined call buffered already, a procedure that returns at once and a reply
        // the transport takes cost no promise turn each.
        let record = records.next();
        if (record instanceof Promise) record = await record;
        if (record === null) break;
        let reply = dispatcher.dispatch(record, options);
        if (reply instanceof Promise) reply = await reply;
        if (reply !== null && !connection.write(reply)) await connection.drained();
      }
    } catch {
      // A broken record, a limit, an idle connection or a peer gone: close; the server goes on.
      connection.abort();
    } finally {
      records.close();
    }
    if (sink.failed) throw sink.first;
  }
}

/**
 * The handler of RPC over UDP: one call per datagram, one reply datagram (none for a message that is not a call). A
 * reply larger than a datagram can carry (65,507 bytes over IPv4, 65,527 over IPv6) is answered with SYSTEM_ERR.
 *
 * @example
 * ```ts ignore
 * export class CalcDatagram extends RpcDatagramHandler {
 *   static override programs = [calc];
 *   static override moduleUrl = import.meta.url;
 * }
 * ```
 */
export class RpcDatagramHandler<Server = unknown> extends DatagramRequestHandler<Server> {
  /** The programs this handler serves. */
  static programs: readonly RpcProgram[] = [];

  /** As {@link RpcStreamHandler.authenticate}. */
  authenticate(_call: RpcCallContext): number | undefined | void | Promise<number | undefined | void> {
    return undefined;
  }

  /** Answers the datagram. A procedure's failure goes to the server's `handleError` after the SYSTEM_ERR reply. */
  override handle(): void | Promise<void> {
    const dispatcher = dispatcherOf(this.constructor as unknown as RpcHandlerClass);
    const server = this.server;
    const address = this.clientAddress;
    const ipv6 = Array.isArray(address) && String(address[0]).includes(":");
    let failure: { error: unknown } | undefined;
    const reply = dispatcher.dispatch(this.packet, {
      framed: false,
      maxReplySize: setting(server, "maxReplySize", null) ?? (ipv6 ? MAX_UDP_REPLY_IPV6 : MAX_UDP_REPLY_IPV4),
      clientAddress: address,
      transport: (server as { transport?: string } | null)?.transport,
      handler: this,
      tls: null,
      authenticate: (call) => this.authenticate(call),
      reportError: (error) => (failure ??= { error }),
    });
    const send = (bytes: Uint8Array | null): void => {
      if (bytes !== null) void this.wfile.write(bytes);
      if (failure !== undefined) throw failure.error;
    };
    if (reply instanceof Promise) return reply.then(send);
    send(reply);
  }
}
