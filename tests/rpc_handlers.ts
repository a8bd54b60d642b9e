// The RPC programs and handlers the RPC tests serve; a module of their own so that worker threads and child processes
// can import them by URL.
import {
  AUTH_FLAVOR,
  AUTH_STAT,
  defineProgram,
  implement,
  type RpcCallContext,
  RpcDatagramHandler,
  RpcError,
  type RpcProgram,
  RpcStreamHandler,
  xdr,
} from "../handlers.ts";

/** Program number of the test program (versions 1 and 3). */
export const TEST_PROG = 0x2000_1234;

const TestSpec = defineProgram({
  name: "TEST_PROG",
  number: TEST_PROG,
  versions: {
    1: {
      ADD: { proc: 1, args: xdr.struct({ a: xdr.int(), b: xdr.int() }), result: xdr.int() },
      /** Throws a TypeError: SYSTEM_ERR. */
      THROW: { proc: 2, args: xdr.voidType(), result: xdr.voidType() },
      /** The caller's AUTH_SYS uid and machine name, or -1 and "" without AUTH_SYS. */
      WHOAMI: { proc: 3, args: xdr.voidType(), result: xdr.struct({ uid: xdr.int(), machine: xdr.string() }) },
      /** A string of `n` x's: a reply as large as asked. */
      REPEAT: { proc: 4, args: xdr.uint(), result: xdr.string() },
      /** Needs AUTH_SYS (the hook answers AUTH_TOOWEAK otherwise). */
      SECRET: { proc: 5, args: xdr.voidType(), result: xdr.string(10) },
      /** Throws RpcError.garbageArgs() for a negative number. */
      POSITIVE: { proc: 6, args: xdr.int(), result: xdr.int() },
      /** Answers after `ms` milliseconds. */
      SLEEP: { proc: 7, args: xdr.uint(), result: xdr.uint() },
      /** Returns a result that does not fit its type (a string longer than 2): SYSTEM_ERR. */
      BADRESULT: { proc: 8, args: xdr.voidType(), result: xdr.string(2) },
      /** How many times COUNT ran in this process, this call included; sleeps `ms` first. */
      COUNT: { proc: 9, args: xdr.uint(), result: xdr.uint() },
    },
    3: {
      NEG: { proc: 1, args: xdr.int(), result: xdr.int() },
    },
  },
});

let counted = 0;

/** The test program. */
export const testProgram: RpcProgram = implement(TestSpec, {
  1: {
    ADD: ({ a, b }) => (a + b) | 0,
    THROW: () => {
      throw new TypeError("thrown on purpose by THROW");
    },
    WHOAMI: (_args, call) => ({ uid: call.authSys?.uid ?? -1, machine: call.authSys?.machineName ?? "" }),
    REPEAT: (n) => "x".repeat(n),
    SECRET: () => "secret",
    POSITIVE: (n) => {
      if (n < 0) throw RpcError.garbageArgs();
      return n;
    },
    SLEEP: async (ms) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return ms;
    },
    BADRESULT: () => "too long",
    COUNT: async (ms) => {
      counted++;
      const count = counted;
      if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
      return count;
    },
  },
  3: { NEG: (n) => -n | 0 },
});

function needsAuthSys(call: RpcCallContext): number | undefined {
  if (call.procedure === 5 && call.cred.flavor !== AUTH_FLAVOR.AUTH_SYS) return AUTH_STAT.AUTH_TOOWEAK;
  return undefined;
}

/** The test program over streams. */
export class TestStream extends RpcStreamHandler {
  static override moduleUrl: string = import.meta.url;
  static override programs: readonly RpcProgram[] = [testProgram];
  override authenticate(call: RpcCallContext): number | undefined {
    return needsAuthSys(call);
  }
}

/** The test program over UDP. */
export class TestDatagram extends RpcDatagramHandler {
  static override moduleUrl: string = import.meta.url;
  static override programs: readonly RpcProgram[] = [testProgram];
  override authenticate(call: RpcCallContext): number | undefined {
    return needsAuthSys(call);
  }
}
