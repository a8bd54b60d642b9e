/**
 * Named errors. Each says what went wrong and, where it helps, what is allowed instead.
 *
 * @module
 */

/**
 * The address is already taken by a live socket. `code` is `"EADDRINUSE"`, as the runtimes report it.
 *
 * @example Telling a port in use apart from other failures
 * ```ts
 * import { AddressInUseError, StreamRequestHandler, TCPServer } from "@sockserve/sockserve";
 *
 * const server = new TCPServer(["127.0.0.1", 8000], StreamRequestHandler);
 * try {
 *   await server.listen();
 * } catch (error) {
 *   if (!(error instanceof AddressInUseError)) throw error;
 *   console.error(error.message); // "address already in use: 127.0.0.1:8000"
 * }
 * ```
 */
export class AddressInUseError extends Error {
  /** Always `"EADDRINUSE"`. */
  readonly code: "EADDRINUSE" = "EADDRINUSE";
  /** The address as written in the message. */
  readonly address: string;
  /**
   * Makes the error for `address`.
   *
   * @param address the address that was taken, formatted for people
   */
  constructor(address: string, options?: ErrorOptions) {
    super(`address already in use: ${address}`, options);
    this.name = "AddressInUseError";
    this.address = address;
  }
}

/** The runtime cannot do what was asked (for example unix datagram sockets on Node). The message names the runtime. */
export class UnsupportedError extends Error {
  /**
   * Makes the error.
   *
   * @param message what is unsupported, where, and what to use instead
   */
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedError";
  }
}

/** A read or write on a request waited longer than the handler's `timeout`. */
export class SocketTimeoutError extends Error {
  /** The limit that was exceeded, in milliseconds. */
  readonly timeout: number;
  /**
   * Makes the error for a limit of `timeout` ms.
   *
   * @param timeout the limit that was exceeded, in milliseconds
   * @param message what waited too long, when not the handler's `timeout`
   */
  constructor(timeout: number, message: string = `timed out after ${timeout} ms`) {
    super(message);
    this.timeout = timeout;
    this.name = "SocketTimeoutError";
  }
}

/** `readline()` found no newline within its limit. Raised instead of growing memory without bound. */
export class LineTooLongError extends Error {
  /** The byte limit that was reached. */
  readonly limit: number;
  /**
   * Makes the error for a limit of `limit` bytes.
   *
   * @param limit the byte limit that was reached
   */
  constructor(limit: number) {
    super(`line longer than ${limit} bytes: raise rfile.maxLineLength or pass a limit to readline(limit)`);
    this.limit = limit;
    this.name = "LineTooLongError";
  }
}

/** A datagram longer than the server's `maxPacketSize` arrived. It is reported, never silently cut. */
export class DatagramTooLargeError extends Error {
  /** How long the datagram was, at least. */
  readonly size: number;
  /** The server's limit. */
  readonly maxPacketSize: number;
  /**
   * Makes the error for a datagram of `size` bytes.
   *
   * @param size how long the datagram was (at least)
   * @param maxPacketSize the server's limit
   */
  constructor(size: number, maxPacketSize: number) {
    super(`datagram of ${size} bytes or more exceeds maxPacketSize ${maxPacketSize}; it was dropped`);
    this.size = size;
    this.maxPacketSize = maxPacketSize;
    this.name = "DatagramTooLargeError";
  }
}

/** A handler class could not be found by URL (see `handlerLocation`). The message names the module and the export. */
export class HandlerLoadError extends Error {
  /**
   * Makes the error.
   *
   * @param message what was looked for and why it failed
   * @param options the underlying error, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HandlerLoadError";
  }
}

/**
 * A client address already had as many connections open as the server's `maxConnectionsPerAddress`: the new one was
 * reset at once and never served. Reported to `handleError()` (a client error: one line, rate-limited).
 */
export class ConnectionLimitError extends Error {
  /** The client's host. */
  readonly host: string;
  /** The limit that was reached. */
  readonly limit: number;
  /**
   * Makes the error for `host` at `limit` connections.
   *
   * @param host the client's host
   * @param limit the connections a client address may have open at once
   */
  constructor(host: string, limit: number) {
    super(`refused: ${host} already has ${limit} connections open (maxConnectionsPerAddress)`);
    this.name = "ConnectionLimitError";
    this.host = host;
    this.limit = limit;
  }
}

/** A method needs a bound server and the server is not bound, or it is closed. */
export class ServerStateError extends Error {
  /**
   * Makes the error.
   *
   * @param message what was attempted in which state
   */
  constructor(message: string) {
    super(message);
    this.name = "ServerStateError";
  }
}

/**
 * The worker thread running a request ended before the request did: it died (it closed itself, ran out of memory,
 * or failed to load), or was stopped because the server closed. The request is closed; the pool replaces the worker.
 * When the worker crashed, `cause` is its error, with the worker's stack. (Uncaught errors, unhandled rejections and
 * `exit()` no longer end a worker: see {@link ExitInWorkerError} and {@link WorkerFaultError}.)
 */
export class WorkerExitedError extends Error {
  /**
   * Makes the error.
   *
   * @param message what happened to the worker
   * @param options the worker's own error, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkerExitedError";
  }
}

/**
 * A handler running in a worker thread called the runtime's exit function. In a worker that would end the
 * thread and every request it serves, so there it throws this instead: the request that called it fails (its
 * connection is closed and the error reported to `handleError()`), as Python's `sys.exit()` in a handler thread
 * ends only that thread. The worker goes on serving the others.
 */
export class ExitInWorkerError extends Error {
  /** The exit code asked for. */
  readonly code: number;
  /**
   * Makes the error.
   *
   * @param code the exit code the handler asked for
   */
  constructor(code: number) {
    super(`exit(${code}) was called in a worker thread: it ends the request that called it, not the thread`);
    this.name = "ExitInWorkerError";
    this.code = code;
  }
}

/**
 * An uncaught error or an unhandled promise rejection in a worker thread that the runtime did not let the library
 * blame on one request (see the README's "Limits and timeouts" for which runtime tells what). It is reported to
 * `handleError()` with no request; the worker goes on serving its requests. `cause` is the error itself, with the
 * worker's stack.
 */
export class WorkerFaultError extends Error {
  /** `"error"` for an uncaught error (thrown from a timer or a callback), `"rejection"` for an unhandled rejection. */
  readonly kind: "error" | "rejection";
  /**
   * Makes the error.
   *
   * @param message what happened, in which worker
   * @param kind which kind of fault it was
   * @param options the fault's own error, as `cause`
   */
  constructor(message: string, kind: "error" | "rejection", options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkerFaultError";
    this.kind = kind;
  }
}

/**
 * A child process of a forking server ended without finishing its request: it was killed (by a signal, or by
 * `drainTimeout` at close) or it crashed, or it could not start. The request is closed; the server goes on.
 */
export class ChildProcessError extends Error {
  /** The child's process id (0 when it never started). */
  readonly pid: number;
  /** Its exit status, or `null` when a signal ended it or it is still running. */
  readonly code: number | null;
  /** The signal that ended it, or `null`. */
  readonly signal: string | null;
  /**
   * Records how the child ended.
   *
   * @param message what happened to the child
   * @param exit its process id, exit status and signal
   */
  constructor(message: string, exit: { pid: number; code: number | null; signal: string | null }) {
    super(message);
    this.name = "ChildProcessError";
    this.pid = exit.pid;
    this.code = exit.code;
    this.signal = exit.signal;
  }
}
