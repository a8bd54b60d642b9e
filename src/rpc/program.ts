/**
 * Programs: `defineProgram` (the interface, as a `.x` file declares it) and `implement` (its procedure functions).
 *
 * @module
 */
import type { XdrType } from "../xdr/type.ts";
import type { TlsInfo } from "../tls/info.ts";
import type { AuthSys, OpaqueAuth } from "./auth.ts";

/** One procedure of an interface: its number and the types of its argument and result. */
export interface ProcedureSpec<A = unknown, R = unknown> {
  /** Procedure number (0 is NULL, answered by every version: do not declare it). */
  readonly proc: number;
  /** Type of the argument (use `xdr.struct` for several, `xdr.voidType()` for none). */
  readonly args: XdrType<A>;
  /** Type of the result. */
  readonly result: XdrType<R>;
}

/** The procedures of one version, by name. */
// deno-lint-ignore no-explicit-any
export type VersionSpec = Readonly<Record<string, ProcedureSpec<any, any>>>;

/** A program's interface: its number and versions, as a `.x` file's `program` block declares them. */
export interface ProgramSpec {
  /** Program name, for messages (`CALC_PROG`). */
  readonly name: string;
  /** Program number (0x20000000–0x3fffffff for your own). */
  readonly number: number;
  /** Versions by number, each with its procedures by name. */
  readonly versions: Readonly<Record<number, VersionSpec>>;
}

/** What a procedure function receives besides its argument. */
export interface RpcCallContext {
  /** The call's transaction id. */
  readonly xid: number;
  /** Program number. */
  readonly program: number;
  /** Version number. */
  readonly version: number;
  /** Procedure number. */
  readonly procedure: number;
  /** The credential as sent. */
  readonly cred: OpaqueAuth;
  /** The verifier as sent. */
  readonly verf: OpaqueAuth;
  /** The AUTH_SYS credential parsed, when the call has one; otherwise `null`. */
  readonly authSys: AuthSys | null;
  /** Where the call came from: `[host, port]`, a unix path, or `null`. */
  readonly clientAddress: unknown;
  /** `"tcp"`, `"udp"`, `"unix"`… as the server says. */
  readonly transport: string | undefined;
  /**
   * What the TLS handshake settled, for a call on a TLS connection (a server with a `tls` option): the protocol, and
   * whether the client showed a trusted certificate (`authorized`, `peerCertificate`). `null` otherwise.
   */
  readonly tls: TlsInfo | null;
  /** The handler serving the call (its `server`, `request` …). */
  readonly handler: unknown;
}

/** A procedure function: takes the decoded argument, returns the result (or a promise of it). */
export type ProcedureFunction<A, R> = (args: A, call: RpcCallContext) => R | Promise<R>;

/** The functions of every procedure of every version of a program, by version number and procedure name. */
export type Implementation<P extends ProgramSpec> = {
  readonly [V in keyof P["versions"]]: {
    readonly [N in keyof P["versions"][V]]: P["versions"][V][N] extends ProcedureSpec<infer A, infer R>
      ? ProcedureFunction<A, R>
      : never;
  };
};

/** A procedure ready to serve: its spec and function. */
export interface ServedProcedure {
  /** Procedure name. */
  readonly name: string;
  /** Its spec. */
  readonly spec: ProcedureSpec;
  /** Its function. */
  readonly fn: ProcedureFunction<unknown, unknown>;
}

/** A program with its functions, as servers take it (made by {@link implement}). */
export interface RpcProgram {
  /** The interface. */
  readonly spec: ProgramSpec;
  /** Procedures by version, then by procedure number. */
  readonly versions: ReadonlyMap<number, ReadonlyMap<number, ServedProcedure>>;
}

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`${what} must be an integer 0..2^32-1, got ${value}`);
  }
}

/**
 * Declares a program's interface; the same object makes servers (with {@link implement}) and typed client stubs.
 *
 * @example `calc.x`
 * ```ts
 * import { defineProgram, xdr } from "@sockserve/sockserve";
 *
 * const IntPair = xdr.struct({ a: xdr.int(), b: xdr.int() });
 * export const Calc = defineProgram({
 *   name: "CALC_PROG",
 *   number: 0x2000_0099,
 *   versions: {
 *     1: {
 *       ADD: { proc: 1, args: IntPair, result: xdr.int() },
 *       ECHO: { proc: 2, args: xdr.string(), result: xdr.string() },
 *     },
 *   },
 * });
 * ```
 */
export function defineProgram<const P extends ProgramSpec>(spec: P): P {
  checkU32(spec.number, `program number of ${spec.name}`);
  const versions = Object.keys(spec.versions);
  if (versions.length === 0) throw new RangeError(`program ${spec.name} declares no version`);
  for (const version of versions) {
    checkU32(Number(version), `a version of ${spec.name}`);
    const seen = new Map<number, string>();
    for (const [name, procedure] of Object.entries(spec.versions[Number(version)])) {
      checkU32(procedure.proc, `procedure number of ${spec.name}.${name}`);
      if (procedure.proc === 0) throw new RangeError(`${spec.name}.${name}: procedure 0 is NULL, answered already`);
      if (seen.has(procedure.proc)) {
        throw new RangeError(
          `${spec.name} version ${version}: ${seen.get(procedure.proc)} and ${name} share ${procedure.proc}`,
        );
      }
      seen.set(procedure.proc, name);
    }
  }
  return spec;
}

/**
 * Gives a program's procedures their functions, for servers. A function may be `async`; it gets the decoded
 * argument and an {@link RpcCallContext}, and returns the result, or throws an `RpcError` for another reply.
 *
 * @example
 * ```ts ignore
 * const calc = implement(Calc, {
 *   1: { ADD: ({ a, b }) => (a + b) | 0, ECHO: (text) => text },
 * });
 * ```
 */
export function implement<const P extends ProgramSpec>(spec: P, functions: Implementation<P>): RpcProgram {
  const versions = new Map<number, Map<number, ServedProcedure>>();
  for (const [version, procedures] of Object.entries(spec.versions)) {
    const table = new Map<number, ServedProcedure>();
    const given = (functions as Record<string, Record<string, unknown> | undefined>)[version];
    for (const [name, procedure] of Object.entries(procedures)) {
      const fn = given?.[name];
      if (typeof fn !== "function") {
        throw new TypeError(`implement(${spec.name}): version ${version} has no function for ${name}`);
      }
      table.set(procedure.proc, { name, spec: procedure, fn: fn as ProcedureFunction<unknown, unknown> });
    }
    versions.set(Number(version), table);
  }
  return { spec, versions };
}
