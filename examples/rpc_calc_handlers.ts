/**
 * The calculator of `examples/calc.x` as an RPC program, and its handlers, in a module of their own so that worker
 * threads and child processes can import them by URL (they import the lean `handlers` entrypoint).
 *
 * @module
 */
import {
  defineProgram,
  implement,
  type ProcedureSpec,
  RpcDatagramHandler,
  type RpcProgram,
  RpcStreamHandler,
  xdr,
} from "../handlers.ts";

/** `struct intpair { int a; int b; };` */
export interface IntPair {
  /** First addend. */
  a: number;
  /** Second addend. */
  b: number;
}

/** The XDR type of {@link IntPair}. */
export const IntPair: xdr.XdrType<IntPair> = xdr.struct({ a: xdr.int(), b: xdr.int() });

/**
 * The type of {@link Calc}, written out because exported constants need one here (isolated declarations); in an
 * application, `const Calc = defineProgram({...})` infers it.
 */
export interface CalcSpec {
  /** `CALC_PROG`. */
  readonly name: "CALC_PROG";
  /** 0x20000099. */
  readonly number: number;
  /** Version 1. */
  readonly versions: {
    readonly 1: {
      readonly ADD: ProcedureSpec<IntPair, number>;
      readonly ECHO: ProcedureSpec<string, string>;
      readonly BIGECHO: ProcedureSpec<string, string>;
    };
  };
}

/** The interface of `calc.x`: program 0x20000099, version 1, procedures ADD, ECHO and BIGECHO. */
export const Calc: CalcSpec = defineProgram({
  name: "CALC_PROG",
  number: 0x2000_0099,
  versions: {
    1: {
      ADD: { proc: 1, args: IntPair, result: xdr.int() },
      ECHO: { proc: 2, args: xdr.string(), result: xdr.string() },
      BIGECHO: { proc: 3, args: xdr.string(), result: xdr.string() },
    },
  },
});

/** The calculator's procedures. */
export const calc: RpcProgram = implement(Calc, {
  1: {
    ADD: ({ a, b }) => (a + b) | 0,
    ECHO: (text) => text,
    BIGECHO: (text) => text,
  },
});

/** The calculator over TCP and unix stream sockets. */
export class CalcStream extends RpcStreamHandler {
  static override moduleUrl: string = import.meta.url;
  static override programs: readonly RpcProgram[] = [calc];
}

/** The calculator over UDP. */
export class CalcDatagram extends RpcDatagramHandler {
  static override moduleUrl: string = import.meta.url;
  static override programs: readonly RpcProgram[] = [calc];
}
