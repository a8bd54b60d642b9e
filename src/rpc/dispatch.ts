/**
 * `Dispatcher`: one call message in, one reply message out (or none), through a program/version/procedure table.
 *
 * @module
 */
import { XdrError } from "../xdr/error.ts";
import { XdrReader } from "../xdr/reader.ts";
import { type AuthSys, parseAuthSys } from "./auth.ts";
import { ACCEPT_STAT, AUTH_FLAVOR, AUTH_STAT, RPC_VERSION } from "./constants.ts";
import { RpcError } from "./errors.ts";
import { acceptedReply, type CallHeader, errorReply, finishMessage, readCallHeader } from "./message.ts";
import type { RpcCallContext, RpcProgram, ServedProcedure } from "./program.ts";
import type { TlsInfo } from "../tls/info.ts";

/** What a dispatch needs to know of the request it serves. */
export interface DispatchOptions {
  /** Prefix the reply with a record-marking header (stream transports). */
  readonly framed: boolean;
  /** Longest reply allowed, in bytes (UDP: 65,507); a longer one is replaced by SYSTEM_ERR. */
  readonly maxReplySize: number;
  /** Where the call came from. */
  readonly clientAddress: unknown;
  /** The server's transport name. */
  readonly transport: string | undefined;
  /** The handler serving the call. */
  readonly handler: unknown;
  /** The connection's TLS facts, or `null`. */
  readonly tls: TlsInfo | null;
  /** Decides whether the call may go on: an `auth_stat` other than 0 refuses it with AUTH_ERROR. */
  authenticate(call: RpcCallContext): number | undefined | void | Promise<number | undefined | void>;
  /** Hears a procedure's failure (its call got SYSTEM_ERR). */
  reportError(error: unknown): void;
}

/** A reply, or `null` for a message that gets none (not a call, or too short to answer). */
export type DispatchResult = Uint8Array | null;

/** A procedure whose reply is SUCCESS with no results: NULL. */
const NULL_PROCEDURE: ServedProcedure = {
  name: "NULL",
  spec: {
    proc: 0,
    args: { description: "void", minSize: 0, write() {}, read: () => undefined },
    result: { description: "void", minSize: 0, write() {}, read: () => undefined },
  },
  fn: () => undefined,
};

/** What the checks before running a procedure found: a reply at once, or the procedure to run. */
type Prepared =
  | DispatchResult
  | { readonly procedure: ServedProcedure; readonly call: RpcCallContext; readonly reader: XdrReader };

/**
 * Serves calls from a table of programs: checks the RPC version, the credential, the program, version and procedure,
 * runs the authentication hook, decodes the arguments exactly, runs the procedure and encodes its result, answering
 * every failure with the reply RFC 5531 gives it.
 */
export class Dispatcher {
  readonly #programs = new Map<number, ReadonlyMap<number, ReadonlyMap<number, ServedProcedure>>>();
  readonly #ranges = new Map<number, readonly [number, number]>();

  /**
   * Makes the table.
   *
   * @param programs the programs served; several may share a number if their versions differ
   * @throws {TypeError} when two programs declare the same program and version
   */
  constructor(programs: readonly RpcProgram[]) {
    for (const program of programs) {
      const number = program.spec.number;
      const versions = new Map(this.#programs.get(number) ?? []);
      for (const [version, procedures] of program.versions) {
        if (versions.has(version)) {
          throw new TypeError(`program ${program.spec.name} (${number}) version ${version} is served twice`);
        }
        versions.set(version, procedures);
      }
      this.#programs.set(number, versions);
      const numbers = [...versions.keys()];
      this.#ranges.set(number, [Math.min(...numbers), Math.max(...numbers)]);
    }
  }

  /** The (program, version) pairs served, for registering with a portmapper. */
  get registrations(): Array<readonly [program: number, version: number]> {
    const out: Array<readonly [number, number]> = [];
    for (const [program, versions] of this.#programs) {
      for (const version of versions.keys()) out.push([program, version]);
    }
    return out;
  }

  /**
   * Answers one message, `message[start, end)`: the reply, or `null` when it gets none. Never throws for bad input.
   */
  dispatch(
    message: Uint8Array,
    options: DispatchOptions,
    start = 0,
    end: number = message.length,
  ): DispatchResult | Promise<DispatchResult> {
    const prepared = this.#prepare(new XdrReader(message, start, end), options);
    if (prepared === null || prepared instanceof Uint8Array) return prepared;
    const { call } = prepared;
    let verdict: ReturnType<DispatchOptions["authenticate"]>;
    try {
      verdict = options.authenticate(call);
    } catch (error) {
      return this.#failure(call.xid, error, options);
    }
    if (verdict instanceof Promise) {
      return verdict.then(
        (stat) => this.#afterAuth(prepared, stat, options),
        (error) => this.#failure(call.xid, error, options),
      );
    }
    return this.#afterAuth(prepared, verdict, options);
  }

  #prepare(reader: XdrReader, options: DispatchOptions): Prepared {
    const parsed = readCallHeader(reader);
    const framed = options.framed;
    if (parsed.kind === "drop") return null;
    if (parsed.kind === "mismatch") {
      return errorReply(parsed.xid, RpcError.rpcMismatch(RPC_VERSION, RPC_VERSION), framed);
    }
    if (parsed.kind === "badcred") return errorReply(parsed.xid, RpcError.authError(AUTH_STAT.AUTH_BADCRED), framed);
    const header: CallHeader = parsed.header;
    const xid = header.xid;
    let authSys: AuthSys | null = null;
    if (header.cred.flavor === AUTH_FLAVOR.AUTH_SYS) {
      try {
        authSys = parseAuthSys(header.cred.body);
      } catch (error) {
        if (!(error instanceof XdrError)) throw error;
        return errorReply(xid, RpcError.authError(AUTH_STAT.AUTH_BADCRED), framed);
      }
    } else if (header.cred.flavor !== AUTH_FLAVOR.AUTH_NONE) {
      return errorReply(xid, RpcError.authError(AUTH_STAT.AUTH_REJECTEDCRED), framed);
    }
    const versions = this.#programs.get(header.program);
    if (versions === undefined) return errorReply(xid, RpcError.progUnavail(), framed);
    const procedures = versions.get(header.version);
    if (procedures === undefined) {
      const [low, high] = this.#ranges.get(header.program)!;
      return errorReply(xid, RpcError.progMismatch(low, high), framed);
    }
    const procedure = header.procedure === 0 ? NULL_PROCEDURE : procedures.get(header.procedure);
    if (procedure === undefined) return errorReply(xid, RpcError.procUnavail(), framed);
    const call: RpcCallContext = {
      xid,
      program: header.program,
      version: header.version,
      procedure: header.procedure,
      cred: header.cred,
      verf: header.verf,
      authSys,
      clientAddress: options.clientAddress,
      transport: options.transport,
      tls: options.tls,
      handler: options.handler,
    };
    return { procedure, call, reader };
  }

  #afterAuth(
    prepared: Exclude<Prepared, DispatchResult>,
    stat: number | undefined | void,
    options: DispatchOptions,
  ): DispatchResult | Promise<DispatchResult> {
    const { procedure, call } = prepared;
    if (stat !== undefined && stat !== AUTH_STAT.AUTH_OK) {
      return errorReply(call.xid, RpcError.authError(stat), options.framed);
    }
    const reader = prepared.reader;
    let args: unknown;
    try {
      args = procedure.spec.args.read(reader);
    } catch (error) {
      if (!(error instanceof XdrError)) return this.#failure(call.xid, error, options);
      return errorReply(call.xid, RpcError.garbageArgs(), options.framed);
    }
    if (reader.remaining > 0) return errorReply(call.xid, RpcError.garbageArgs(), options.framed);
    let result: unknown;
    try {
      result = procedure.fn(args, call);
    } catch (error) {
      return this.#failure(call.xid, error, options);
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => this.#success(procedure, call, value, options),
        (error) => this.#failure(call.xid, error, options),
      );
    }
    return this.#success(procedure, call, result, options);
  }

  #success(procedure: ServedProcedure, call: RpcCallContext, value: unknown, options: DispatchOptions): DispatchResult {
    const writer = acceptedReply(call.xid, ACCEPT_STAT.SUCCESS, options.framed);
    try {
      procedure.spec.result.write(writer, value);
    } catch (error) {
      const named = error instanceof XdrError ? error.within(`result of ${procedure.name}`) : error;
      return this.#failure(call.xid, named, options);
    }
    const reply = finishMessage(writer, options.framed);
    if (reply.length > options.maxReplySize) {
      const error = new RangeError(
        `the reply of ${procedure.name} is ${reply.length} bytes, more than the ${options.maxReplySize} allowed here`,
      );
      return this.#failure(call.xid, error, options);
    }
    return reply;
  }

  /** A procedure threw: its `RpcError`'s reply, or SYSTEM_ERR for anything else (reported). */
  #failure(xid: number, error: unknown, options: DispatchOptions): DispatchResult {
    if (error instanceof RpcError) return errorReply(xid, error, options.framed);
    try {
      options.reportError(error);
    } catch {
      // A failing report must not cost the caller its reply.
    }
    return errorReply(xid, RpcError.systemErr(), options.framed);
  }
}
