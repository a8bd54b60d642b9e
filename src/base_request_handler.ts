/**
 * `BaseRequestHandler`: one object per request, with `setup`, `handle` and `finish`.
 *
 * @module
 */
import { RESOLVED } from "./resolved.ts";

/** What a server needs of a handler object: `handle`, and optionally `setup` and `finish`. */
export interface RequestHandler {
  /** Prepares the request; when it throws, neither `handle` nor `finish` runs. */
  setup?(): unknown;
  /** Serves the request. */
  handle(): unknown;
  /** Cleans up; runs even when `handle` throws. */
  finish?(): unknown;
}

/**
 * A handler class as servers take it: constructed with `(request, clientAddress, server)` for each request.
 *
 * The optional statics name where the class can be imported from, which the threading and forking mix-ins need
 * (see {@link handlerLocation}).
 */
export interface RequestHandlerClass<Request = unknown, Address = unknown> {
  /** Builds the handler of one request. */
  new (request: Request, clientAddress: Address, server: never): RequestHandler;
  /** URL of the module that exports this class (`import.meta.url` of that module). */
  readonly moduleUrl?: string;
  /** Name of the export, when it differs from the class name (for example after minification). */
  readonly exportName?: string;
}

/**
 * The base of every handler. A new one is made for each request; the server then calls `setup()`, `handle()` and
 * `finish()` (which runs even when `handle()` throws). Each may be `async`.
 *
 * @example A handler that answers with the client's address
 * ```ts
 * import { BaseRequestHandler, type Connection, formatAddress, type SocketAddress } from "@sockserve/sockserve";
 *
 * class WhoAmI extends BaseRequestHandler<Connection, SocketAddress> {
 *   override async handle() {
 *     await this.request.sendAll(`you are ${formatAddress(this.clientAddress)}\n`); // the socket, as in Python
 *   }
 * }
 * ```
 */
export class BaseRequestHandler<Request = unknown, Address = unknown, Server = unknown> {
  /**
   * Where the worker or child process of the threading and forking mix-ins imports this class from. Set it in each
   * handler that runs there: `static override moduleUrl = import.meta.url;`
   */
  static moduleUrl?: string;
  /** The export name, when it is not the class name. */
  static exportName?: string;

  /** The request: a {@link Connection} for stream servers, a {@link DatagramRequest} for datagram servers. */
  readonly request: Request;
  /** The client's address: `[host, port]`, a unix path, or `null` for an unnamed unix datagram client. */
  readonly clientAddress: Address;
  /** The server that took the request. */
  readonly server: Server;

  /**
   * Stores the request. Unlike Python's, the constructor does not run the handler: the server calls
   * `setup`, `handle` and `finish` (see {@link runHandler}), so subclass fields are set before any of them runs.
   */
  constructor(request: Request, clientAddress: Address, server: Server) {
    this.request = request;
    this.clientAddress = clientAddress;
    this.server = server;
  }

  /** Called before {@link BaseRequestHandler.handle}. Does nothing by default. */
  setup(): void | Promise<void> {}

  /** Serves the request. Does nothing by default. */
  handle(): void | Promise<void> {}

  /** Called after {@link BaseRequestHandler.handle}, even when it failed. Does nothing by default. */
  finish(): void | Promise<void> {}
}

/**
 * Runs a handler's life: `setup`, then `handle`, then `finish` even when `handle` threw. Not `async`: every open
 * connection waits in here, and promise reactions hold less memory than a suspended async frame. A step that returns
 * nothing (a synchronous one) is not waited for at all.
 */
export function runHandler(handler: RequestHandler): Promise<void> {
  let setup: unknown;
  try {
    setup = handler.setup?.();
  } catch (error) {
    return Promise.reject(error);
  }
  if (setup === undefined) return handleThenFinish(handler);
  return Promise.resolve(setup).then(() => handleThenFinish(handler));
}

function handleThenFinish(handler: RequestHandler): Promise<void> {
  let handled: unknown;
  try {
    handled = handler.handle();
  } catch (error) {
    return finishAfterFailure(handler, error);
  }
  if (handled === undefined) {
    try {
      return finish(handler) ?? RESOLVED;
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return Promise.resolve(handled).then(() => finish(handler), (error) => finishAfterFailure(handler, error));
}

/** Calls `finish`; `undefined` when it finished at once (a promise returned from a reaction would cost two turns). */
function finish(handler: RequestHandler): Promise<void> | undefined {
  const finished = handler.finish?.();
  return finished === undefined ? undefined : Promise.resolve(finished) as Promise<unknown> as Promise<void>;
}

/** `finish` after `handle` failed; `handle`'s error stands unless `finish` fails too (as with `finally`). */
async function finishAfterFailure(handler: RequestHandler, error: unknown): Promise<void> {
  if (handler.finish) await handler.finish();
  throw error;
}
