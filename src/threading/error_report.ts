/**
 * Errors as plain data, so that an error thrown in a worker reaches the server's `handleError()` in the main thread
 * with its class (for the library's own errors), message, stack and fields.
 *
 * @module
 */
import { NoClientAddressError } from "../datagram_request_handler.ts";
import {
  AddressInUseError,
  DatagramTooLargeError,
  ExitInWorkerError,
  HandlerLoadError,
  LineTooLongError,
  ServerStateError,
  SocketTimeoutError,
  UnsupportedError,
  WorkerExitedError,
  WorkerFaultError,
} from "../errors.ts";

/** An error described as structured-cloneable data. */
export interface ErrorReport {
  /** The error's name (`TypeError`, `HandlerLoadError`, …). */
  readonly name: string;
  /** Its message. */
  readonly message: string;
  /** Its stack, as the thread that threw it saw it. */
  readonly stack?: string;
  /** Its other own fields with primitive values (`code`, `timeout`, …). */
  readonly fields?: Readonly<Record<string, string | number | boolean | null>>;
  /** Its cause, when that is an error too. */
  readonly cause?: ErrorReport;
}

// Errors rebuilt as instances of their class, so that `instanceof` works in handleError().
const KNOWN: Record<string, { prototype: Error }> = {
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  AddressInUseError,
  DatagramTooLargeError,
  ExitInWorkerError,
  HandlerLoadError,
  LineTooLongError,
  NoClientAddressError,
  ServerStateError,
  SocketTimeoutError,
  UnsupportedError,
  WorkerExitedError,
  WorkerFaultError,
};

/** Describes any thrown value as an {@link ErrorReport}. */
export function reportError(error: unknown): ErrorReport {
  return describe(error, 0);
}

function describe(error: unknown, depth: number): ErrorReport {
  if (!(error instanceof Error)) {
    return { name: "Error", message: typeof error === "string" ? error : `non-error thrown: ${safeString(error)}` };
  }
  const fields: Record<string, string | number | boolean | null> = {};
  for (const key of Object.keys(error)) {
    if (key === "name" || key === "message" || key === "stack" || key === "cause") continue;
    const value = (error as unknown as Record<string, unknown>)[key];
    const kind = typeof value;
    if (value === null || kind === "string" || kind === "number" || kind === "boolean") fields[key] = value as string;
  }
  const cause = error.cause !== undefined && depth < 4 ? describe(error.cause, depth + 1) : undefined;
  return {
    name: error.name,
    message: error.message,
    ...(error.stack !== undefined ? { stack: error.stack } : {}),
    ...(Object.keys(fields).length > 0 ? { fields } : {}),
    ...(cause !== undefined ? { cause } : {}),
  };
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return typeof value;
  }
}

/**
 * Rebuilds an error from its report: the library's errors and the standard ones as instances of their class, others
 * as `Error` with the original name. The stack is the one of the thread that threw.
 */
export function errorFromReport(report: ErrorReport): Error {
  const error = new Error(
    report.message,
    report.cause === undefined ? undefined : { cause: errorFromReport(report.cause) },
  );
  const known = Object.hasOwn(KNOWN, report.name) ? KNOWN[report.name] : undefined;
  if (known !== undefined) Object.setPrototypeOf(error, known.prototype);
  if (error.name !== report.name) error.name = report.name;
  if (report.stack !== undefined) error.stack = report.stack;
  if (report.fields !== undefined) Object.assign(error, report.fields);
  return error;
}
