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
 * What comes after a handler's life, run in the same promise reaction as its last step (see {@link runHandlerThen}).
 * A server passes its own bookkeeping here: chaining it as a second reaction would cost a promise and two closures per
 * request, held by every open connection.
 */
export interface HandlerSequel<T> {
  /** The handler finished: `setup`, `handle` and `finish` all succeeded. */
  handlerDone(): T | Promise<T>;
  /** The handler failed (in `setup`, `handle` or `finish`), with this error. */
  handlerFailed(error: unknown): T | Promise<T>;
}

/** The sequel of {@link runHandler}: resolve, or reject with the handler's error. */
const SETTLE: HandlerSequel<void> = {
  handlerDone(): void {},
  handlerFailed(error: unknown): never {
    throw error;
  },
};

/**
 * Runs a handler's life: `setup`, then `handle`, then `finish` even when `handle` threw. Not `async`: every open
 * connection waits in here, and promise reactions hold less memory than a suspended async frame. A step that returns
 * nothing (a synchronous one) is not waited for at all.
 */
export function runHandler(handler: RequestHandler): Promise<void> {
  return runHandlerThen(handler, SETTLE);
}

/**
 * Marks a `handle()` that can also report its end through a call instead of a promise: the function under this key,
 * called with the handler as `this`, starts what `handle()` starts and calls the {@link HandleEnding} once it is over.
 * The stream protocols' `handle()` has one: an idle connection then holds no promise chain at all.
 */
export const CALLBACK_HANDLE: unique symbol = Symbol("sockserve.callbackHandle");

/** Where a callback `handle()` (see {@link CALLBACK_HANDLE}) reports its end: one of the two, once. */
export interface HandleEnding {
  /** `handle()` is over and succeeded. */
  handled(): void;
  /** `handle()` failed with this error. */
  handleFailed(error: unknown): void;
}

type CallbackHandle = (this: RequestHandler, ending: HandleEnding) => void;

/** The end of a callback `handle()`: `finish`, then the sequel, on a stack of their own (not the socket event's). */
class HandlerEnding<T> implements HandleEnding {
  readonly #handler: RequestHandler;
  readonly #sequel: HandlerSequel<T>;

  constructor(handler: RequestHandler, sequel: HandlerSequel<T>) {
    this.#handler = handler;
    this.#sequel = sequel;
  }

  handled(): void {
    queueMicrotask(() => {
      try {
        void finishThen(this.#handler, this.#sequel);
      } catch (error) {
        // As on the promise path: what the sequel throws rejects its chain, which nobody awaits.
        void Promise.reject(error);
      }
    });
  }

  handleFailed(error: unknown): void {
    queueMicrotask(() => void finishAfterFailure(this.#handler, error, this.#sequel));
  }
}

/**
 * {@link runHandlerThen} for a sequel that needs no promise back, because it runs the server's bookkeeping itself and
 * never fails: a handler with a callback `handle()` (see {@link CALLBACK_HANDLE}) then costs its request no promise at
 * all. Returns the chain's promise, or `undefined` when the handler will end through the sequel by itself.
 */
export function startHandlerThen<T>(handler: RequestHandler, sequel: HandlerSequel<T>): Promise<T> | undefined {
  if (callbackHandleOf(handler) === undefined) return runHandlerThen(handler, sequel);
  return setupThen(handler, sequel, handleByCall);
}

function callbackHandleOf(handler: RequestHandler): CallbackHandle | undefined {
  return (handler.handle as { [CALLBACK_HANDLE]?: CallbackHandle } | undefined)?.[CALLBACK_HANDLE];
}

/** After a synchronous `setup`: starts the callback `handle()`, which ends through the sequel by itself. */
function handleByCall<T>(handler: RequestHandler, sequel: HandlerSequel<T>): Promise<T> | undefined {
  try {
    callbackHandleOf(handler)!.call(handler, new HandlerEnding(handler, sequel));
  } catch (error) {
    return finishAfterFailure(handler, error, sequel);
  }
  return undefined;
}

/**
 * Runs `setup`, then `next` when it finished at once. An async `setup` goes on on the promise path (`handle()`, whose
 * life is the same), so that the returned promise is always the whole chain's.
 */
function setupThen<T, R extends Promise<T> | undefined>(
  handler: RequestHandler,
  sequel: HandlerSequel<T>,
  next: (handler: RequestHandler, sequel: HandlerSequel<T>) => R,
): R | Promise<T> {
  let setup: unknown;
  try {
    setup = handler.setup?.();
  } catch (error) {
    return failedNow(sequel, error);
  }
  if (setup === undefined) return next(handler, sequel);
  return Promise.resolve(setup).then(
    () => handleThenFinish(handler, sequel),
    (error) => sequel.handlerFailed(error),
  );
}

/**
 * {@link runHandler}, then `sequel`'s `handlerDone()` or `handlerFailed()` in the same reaction; the returned promise
 * takes the sequel's result.
 */
export function runHandlerThen<T>(handler: RequestHandler, sequel: HandlerSequel<T>): Promise<T> {
  return setupThen(handler, sequel, handleThenFinish);
}

function handleThenFinish<T>(handler: RequestHandler, sequel: HandlerSequel<T>): Promise<T> {
  let handled: unknown;
  try {
    handled = handler.handle();
  } catch (error) {
    return finishAfterFailure(handler, error, sequel);
  }
  if (handled !== undefined) {
    return Promise.resolve(handled).then(
      () => finishThen(handler, sequel),
      (error) => finishAfterFailure(handler, error, sequel),
    );
  }
  let after: T | Promise<T>;
  try {
    after = finishThen(handler, sequel);
  } catch (error) {
    return Promise.reject(error);
  }
  // The plain sequel's undefined, or a server's request that ended at once: no promise of its own.
  return after === undefined ? RESOLVED as Promise<T> : Promise.resolve(after);
}

/** `finish`, then the sequel; in a reaction, its promise takes the result. May throw what the sequel throws. */
function finishThen<T>(handler: RequestHandler, sequel: HandlerSequel<T>): T | Promise<T> {
  let finished: Promise<unknown> | undefined;
  try {
    finished = finish(handler);
  } catch (error) {
    return sequel.handlerFailed(error);
  }
  if (finished === undefined) return sequel.handlerDone();
  return finished.then(() => sequel.handlerDone(), (error) => sequel.handlerFailed(error));
}

/**
 * Calls `finish`; `undefined` when it finished at once (a promise returned from a reaction would cost two turns), as
 * when it returned the shared resolved promise (a datagram reply sent at once).
 */
function finish(handler: RequestHandler): Promise<unknown> | undefined {
  const finished = handler.finish?.();
  if (finished === undefined || finished === RESOLVED) return undefined;
  return Promise.resolve(finished);
}

/** `finish` after `handle` failed; `handle`'s error stands unless `finish` fails too (as with `finally`). */
async function finishAfterFailure<T>(handler: RequestHandler, error: unknown, sequel: HandlerSequel<T>): Promise<T> {
  try {
    if (handler.finish) await handler.finish();
  } catch (finishError) {
    return sequel.handlerFailed(finishError);
  }
  return sequel.handlerFailed(error);
}

function failedNow<T>(sequel: HandlerSequel<T>, error: unknown): Promise<T> {
  try {
    return Promise.resolve(sequel.handlerFailed(error));
  } catch (failure) {
    return Promise.reject(failure);
  }
}
