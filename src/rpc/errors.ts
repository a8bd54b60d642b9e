/**
 * `RpcError` (a call refused, on either side) and `RecordError` (a stream broke the record-marking rules).
 *
 * @module
 */
import { ACCEPT_STAT, acceptStatName, AUTH_STAT, authStatName, REJECT_STAT } from "./constants.ts";

/** How a call failed: an accepted reply with an error `accept_stat`, or a denied reply. */
export type RpcErrorKind = "accepted" | "rpc-mismatch" | "auth";

/**
 * A call that did not succeed. A procedure throws one to send that reply (`RpcError.garbageArgs()`,
 * `RpcError.authError(AUTH_STAT.AUTH_TOOWEAK)` …); `RpcClient` throws one when the server sent such a reply.
 *
 * @example A procedure refusing a caller
 * ```ts
 * import { AUTH_STAT, RpcError } from "@sockserve/sockserve";
 *
 * function check(uid: number) {
 *   if (uid !== 0) throw RpcError.authError(AUTH_STAT.AUTH_TOOWEAK);
 * }
 * ```
 */
export class RpcError extends Error {
  /** Accepted with an error status, denied for the RPC version, or denied for authentication. */
  readonly kind: RpcErrorKind;
  /** The `accept_stat` (kind `"accepted"`), the `auth_stat` (kind `"auth"`), or `REJECT_STAT.RPC_MISMATCH`. */
  readonly stat: number;
  /** Lowest version supported (PROG_MISMATCH and RPC_MISMATCH), else `undefined`. */
  readonly low: number | undefined;
  /** Highest version supported (PROG_MISMATCH and RPC_MISMATCH), else `undefined`. */
  readonly high: number | undefined;

  /**
   * Makes the error; the static methods are shorter.
   *
   * @param kind which reply it stands for
   * @param stat its status number
   * @param low lowest version, for the mismatch replies
   * @param high highest version, for the mismatch replies
   */
  constructor(kind: RpcErrorKind, stat: number, low?: number, high?: number, message?: string) {
    super(message ?? RpcError.describe(kind, stat, low, high));
    this.name = "RpcError";
    this.kind = kind;
    this.stat = stat;
    this.low = low;
    this.high = high;
  }

  /** The message of a reply, as rpcinfo words them. */
  static describe(kind: RpcErrorKind, stat: number, low?: number, high?: number): string {
    if (kind === "rpc-mismatch") return `RPC version mismatch: the server speaks versions ${low} to ${high}`;
    if (kind === "auth") return `authentication error: ${authStatName(stat)}`;
    switch (stat) {
      case ACCEPT_STAT.PROG_UNAVAIL:
        return "program unavailable";
      case ACCEPT_STAT.PROG_MISMATCH:
        return `program/version mismatch: low version = ${low}, high version = ${high}`;
      case ACCEPT_STAT.PROC_UNAVAIL:
        return "procedure unavailable";
      case ACCEPT_STAT.GARBAGE_ARGS:
        return "server can't decode arguments";
      case ACCEPT_STAT.SYSTEM_ERR:
        return "remote system error";
      default:
        return `call failed: ${acceptStatName(stat)}`;
    }
  }

  /** PROG_UNAVAIL. */
  static progUnavail(): RpcError {
    return new RpcError("accepted", ACCEPT_STAT.PROG_UNAVAIL);
  }

  /** PROG_MISMATCH with the lowest and highest versions supported. */
  static progMismatch(low: number, high: number): RpcError {
    return new RpcError("accepted", ACCEPT_STAT.PROG_MISMATCH, low, high);
  }

  /** PROC_UNAVAIL. */
  static procUnavail(): RpcError {
    return new RpcError("accepted", ACCEPT_STAT.PROC_UNAVAIL);
  }

  /** GARBAGE_ARGS: the arguments make no sense to the procedure. */
  static garbageArgs(): RpcError {
    return new RpcError("accepted", ACCEPT_STAT.GARBAGE_ARGS);
  }

  /** SYSTEM_ERR. */
  static systemErr(): RpcError {
    return new RpcError("accepted", ACCEPT_STAT.SYSTEM_ERR);
  }

  /** A denied reply AUTH_ERROR with this `auth_stat` (default AUTH_FAILED). */
  static authError(stat: number = AUTH_STAT.AUTH_FAILED): RpcError {
    return new RpcError("auth", stat);
  }

  /** A denied reply RPC_MISMATCH with the versions supported. */
  static rpcMismatch(low: number, high: number): RpcError {
    return new RpcError("rpc-mismatch", REJECT_STAT.RPC_MISMATCH, low, high);
  }
}

/**
 * A stream broke the record-marking rules or a limit (a record too large, too many fragments, an empty fragment, a
 * partial record past its deadline). The server closes the connection: no reply is possible without the record.
 */
export class RecordError extends Error {
  /**
   * Makes the error.
   *
   * @param message what was wrong and the limit, if one
   */
  constructor(message: string) {
    super(message);
    this.name = "RecordError";
  }
}
