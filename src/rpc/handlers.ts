/**
 * The RPC request handlers: `RpcStreamHandler` (TCP and unix stream, record marking, pipelined calls) and
 * `RpcDatagramHandler` (UDP, one call per datagram). Each serves the programs of its class's `programs`.
 *
 * @module
 */
import { DatagramRequestHandler, NoClientAddressError } from "../datagram_request_handler.ts";
import type { SocketAddress } from "../transport.ts";
import { StreamProtocol } from "../protocol/stream_protocol.ts";
import { MAX_UDP_REPLY_IPV4, MAX_UDP_REPLY_IPV6 } from "./constants.ts";
import { Dispatcher, type DispatchOptions } from "./dispatch.ts";
import type { RpcCallContext, RpcProgram } from "./program.ts";
import type { TlsInfo } from "../tls/info.ts";
import { DEFAULT_RECORD_LIMITS, type RecordLimits } from "./record.ts";
import { RecordFramer } from "./record_framer.ts";

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
 * The handler of RPC over TCP and unix stream sockets: cuts records from the bytes as they arrive (several calls may
 * be pipelined on one connection), answers each in turn, and closes the connection on a record that breaks a limit
 * (`maxRecordSize`, `maxFragments`, `idleTimeout`, `recordTimeout` of the server; defaults 1 MiB, 1024, 2 min, 30 s).
 * It is a {@link StreamProtocol}: a call that is answered at once costs no promise and no `async` frame, and an idle
 * connection holds none. Replies go out in the order of the calls: while an `async` procedure (or `authenticate`)
 * runs, reading stops, and it stops too while the client does not read its replies.
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
export class RpcStreamHandler<Server = unknown> extends StreamProtocol<Server> {
  /** The programs this handler serves. */
  static programs: readonly RpcProgram[] = [];

  #dispatcher!: Dispatcher;
  #options!: DispatchOptions;
  #framer!: RecordFramer;
  #sink!: ErrorSink;
  #limits!: RecordLimits;
  /** A reply is awaited (an `async` procedure or hook): reading is paused until it is written. */
  #waiting = false;
  /** The client does not read its replies: reading is paused until the queue drains. */
  #blocked = false;
  /** The client half-closed: close once the last reply is written. */
  #ended = false;
  /** When the wait for the next record began (ms). */
  #idleSince = 0;
  /** When the first byte of the record being received came (ms), or -1 between records. */
  #recordSince = -1;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Decides whether a call may run, after its credential was parsed and checked and its procedure found: return an
   * `auth_stat` (such as `AUTH_STAT.AUTH_TOOWEAK`) to refuse it with AUTH_ERROR, or nothing to let it run.
   */
  authenticate(_call: RpcCallContext): number | undefined | void | Promise<number | undefined | void> {
    return undefined;
  }

  /** Serves records until the client closes, a limit is broken, or the connection fails. */
  override handle(): Promise<void> {
    this.#dispatcher = dispatcherOf(this.constructor as unknown as RpcHandlerClass);
    const server = this.server;
    this.#limits = {
      maxRecordSize: setting(server, "maxRecordSize", DEFAULT_RECORD_LIMITS.maxRecordSize)!,
      maxFragments: setting(server, "maxFragments", DEFAULT_RECORD_LIMITS.maxFragments)!,
      idleTimeout: setting(server, "idleTimeout", DEFAULT_RECORD_LIMITS.idleTimeout),
      recordTimeout: setting(server, "recordTimeout", DEFAULT_RECORD_LIMITS.recordTimeout),
    };
    this.#framer = new RecordFramer(this.#limits);
    const sink = this.#sink = new ErrorSink(server, this.request, this.clientAddress);
    const connection = this.request;
    this.#options = {
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
    this.#idleSince = Date.now();
    this.#watch();
    return super.handle().then(() => {
      if (sink.failed) throw sink.first;
    });
  }

  /** Takes the bytes and answers every record they complete. */
  override dataReceived(data: Uint8Array): void {
    this.#framer.push(data);
    this.#serve();
  }

  /** Answers the records held, in order, until one needs waiting for. */
  #serve(): void {
    const transport = this.transport;
    const framer = this.#framer;
    while (!this.#waiting && !transport.closing) {
      let record: Uint8Array | undefined;
      try {
        record = framer.nextRecord();
      } catch {
        // A broken record or a limit: no reply is possible. Close; the server goes on.
        return transport.abort();
      }
      if (record === undefined) break;
      this.#recordSince = -1;
      const reply = this.#dispatcher.dispatch(record, this.#options, framer.recordStart, framer.recordEnd);
      if (reply instanceof Promise) {
        this.#waiting = true;
        transport.pauseReading();
        reply.then((bytes) => this.#answered(bytes), (error) => this.#broken(error));
        return;
      }
      if (reply !== null) transport.write(reply);
    }
    if (transport.closing) return;
    const now = Date.now();
    if (framer.holding) {
      if (this.#recordSince < 0) this.#recordSince = now;
    } else this.#idleSince = now;
    if (this.#ended) this.#finish();
  }

  #answered(reply: Uint8Array | null): void {
    this.#waiting = false;
    const transport = this.transport;
    if (transport.closing) return;
    if (reply !== null) transport.write(reply);
    this.#serve();
    this.#resume();
  }

  /** The dispatcher failed where it must not: reset the connection, and report it. */
  #broken(error: unknown): void {
    this.#waiting = false;
    this.transport.abort();
    this.#sink.report(error);
  }

  /** The client half-closed and every reply is written: close, or reset when it stopped inside a record. */
  #finish(): void {
    if (this.#waiting) return;
    if (this.#framer.holding) this.transport.abort();
    else this.transport.close();
  }

  #resume(): void {
    if (!this.#waiting && !this.#blocked && !this.#ended) this.transport.resumeReading();
  }

  /** The client does not read its replies: stop reading its calls until it does. */
  override pauseWriting(): void {
    this.#blocked = true;
    this.transport.pauseReading();
  }

  /** The replies drained: read calls again, unless a reply is still awaited. */
  override resumeWriting(): void {
    this.#blocked = false;
    this.#resume();
  }

  /** The client half-closed: the transport stays open until the replies owed are written. */
  override eofReceived(): boolean {
    this.#ended = true;
    this.#finish();
    return true;
  }

  /** The connection is closed: stops the timer that watches the limits. */
  override connectionLost(_error: Error | null): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * One timer per connection watches both limits, at the shorter one's period: it checks the times the reads noted,
   * so nothing is armed or cleared per record. Not while a reply is owed or the client does not read.
   */
  #watch(): void {
    const { idleTimeout, recordTimeout } = this.#limits;
    if (idleTimeout === null && recordTimeout === null) return;
    const period = Math.min(idleTimeout ?? Infinity, recordTimeout ?? Infinity);
    const check = (): void => {
      this.#timer = undefined;
      const transport = this.transport;
      if (transport.closing) return;
      const now = Date.now();
      let left = period;
      if (!this.#waiting && !this.#blocked && !this.#ended) {
        const since = this.#recordSince >= 0 ? this.#recordSince : this.#idleSince;
        const limit = this.#recordSince >= 0 ? recordTimeout : idleTimeout;
        if (limit !== null) {
          left = since + limit - now;
          if (left <= 0) return transport.abort();
        }
      }
      this.#timer = setTimeout(check, Math.min(left, period));
    };
    this.#timer = setTimeout(check, period);
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
    const server = this.server;
    const address = this.clientAddress;
    const ipv6 = Array.isArray(address) && String(address[0]).includes(":");
    const call = new DatagramCall(
      this,
      setting(server, "maxReplySize", null) ?? (ipv6 ? MAX_UDP_REPLY_IPV6 : MAX_UDP_REPLY_IPV4),
      (server as { transport?: string } | null)?.transport,
    );
    const reply = dispatcherOf(this.constructor as unknown as RpcHandlerClass).dispatch(this.packet, call);
    if (reply instanceof Promise) return reply.then((bytes) => call.send(bytes));
    return call.send(reply);
  }
}

/** One datagram's dispatch: what the dispatcher asks, and where its reply goes (straight to the socket). */
class DatagramCall implements DispatchOptions {
  readonly framed = false;
  readonly tls = null;
  readonly handler: RpcDatagramHandler;
  readonly clientAddress: SocketAddress | null;
  readonly maxReplySize: number;
  readonly transport: string | undefined;
  #failure: { error: unknown } | undefined = undefined;

  constructor(handler: RpcDatagramHandler, maxReplySize: number, transport: string | undefined) {
    this.handler = handler;
    this.clientAddress = handler.clientAddress;
    this.maxReplySize = maxReplySize;
    this.transport = transport;
  }

  authenticate(call: RpcCallContext): ReturnType<DispatchOptions["authenticate"]> {
    return this.handler.authenticate(call);
  }

  reportError(error: unknown): void {
    this.#failure ??= { error };
  }

  /** Sends the reply, if any, then throws what a procedure threw (its caller got SYSTEM_ERR). */
  send(reply: Uint8Array | null): void | Promise<void> {
    let sent: Promise<void> | undefined;
    if (reply !== null) {
      const address = this.clientAddress;
      if (address === null || address === "") throw new NoClientAddressError();
      sent = this.handler.socket.send(reply, address);
    }
    if (this.#failure === undefined) return sent;
    // The procedure's failure is the one reported; a send that fails too is not a second.
    sent?.catch(() => {});
    throw this.#failure.error;
  }
}
