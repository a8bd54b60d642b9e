// examples/rpc_calc.ts and examples/portmap.ts as programs: the rpcgen-generated libtirpc client of calc.x calls the
// example over TCP and UDP in every mode; RpcClient over a unix socket; signals and bad options as echo.ts.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { pmapDump, RpcClient } from "../mod.ts";
import { Calc } from "../examples/rpc_calc_handlers.ts";
import { listeningAddress, startExample, stopEcho } from "./_echo_program.ts";
import { socketPath, within } from "./_helpers.ts";
import { buildCalcClient, RPC_TOOLS_MISSING, run } from "./_rpcgen.ts";
import { callMessage, udpCall } from "./_rpc.ts";

const EXPECTED = "NULL: RPC: Success\nADD(2,40) = 42\nADD(2147483647,1) = -2147483648\nECHO = hello\n";

/** Stops the program with SIGTERM and checks it exits 0 having printed one line. */
async function terminate(program: ReturnType<typeof startExample>): Promise<void> {
  process.kill(program.child.pid!, "SIGTERM");
  const { code, signal } = await within(20_000, program.exited, "exit after SIGTERM");
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, program.stderr());
  assert.equal(program.stdout().trim().split("\n").length, 1, "one line on stdout");
}

describe("examples/rpc_calc.ts with the libtirpc client", { skip: RPC_TOOLS_MISSING }, () => {
  let client = "";
  let cleanup = () => {};
  before(async () => {
    ({ client, cleanup } = await buildCalcClient());
  });
  after(() => cleanup());

  for (const mode of ["sync", "async", "threading", "forking"]) {
    for (const transport of ["tcp", "udp"]) {
      test(`--transport ${transport} --mode ${mode}`, async () => {
        const program = startExample("rpc_calc", ["--transport", transport, "--mode", mode]);
        try {
          const [host, port] = (await listeningAddress(program)) as [string, number];
          assert.equal(host, "127.0.0.1");
          const env = transport === "tcp" ? { BIG_LEN: "300000" } : undefined;
          const called = await run(client, ["127.0.0.1", String(port), transport, "sys"], { env });
          assert.equal(called.out, transport === "tcp" ? `${EXPECTED}BIGECHO 300000: same\n` : EXPECTED);
          await terminate(program);
        } finally {
          await stopEcho(program);
        }
      });
    }
  }
});

describe("examples/rpc_calc.ts and examples/portmap.ts", () => {
  test("--transport unix: RpcClient calls it; the socket file is removed at exit", async () => {
    const path = socketPath("calc");
    const program = startExample("rpc_calc", ["--transport", "unix", "--path", path]);
    try {
      assert.equal(await listeningAddress(program), path);
      {
        await using rpc = await RpcClient.connect({ transport: "unix", path });
        assert.equal(await rpc.stub(Calc, 1).ADD({ a: 40, b: 2 }), 42);
      }
      await terminate(program);
      assert.equal(existsSync(path), false);
    } finally {
      await stopEcho(program);
    }
  });

  test("--mode forking --requests-per-child Infinity: 16 concurrent UDP calls twice, by the same children", async () => {
    const program = startExample("rpc_calc", [
      "--transport",
      "udp",
      "--mode",
      "forking",
      "--requests-per-child",
      "Infinity",
    ]);
    try {
      const address = await listeningAddress(program);
      const burst = async (round: number): Promise<void> => {
        const replies = await Promise.all(
          Array.from(
            { length: 16 },
            (_, i) =>
              udpCall(
                address,
                callMessage({ xid: round * 100 + i, prog: 0x2000_0099, vers: 1, proc: 1 }, pair(i, 1000)),
                20_000,
              ),
          ),
        );
        // ADD's reply ends with the sum.
        const sums = replies.map((reply) =>
          reply && new DataView(reply.buffer, reply.byteOffset).getInt32(reply.length - 4)
        );
        assert.deepEqual(sums, replies.map((_, i) => i + 1000));
      };
      await burst(1);
      const first = childPids(program.child.pid!);
      await burst(2);
      assert.ok(first.length >= 1, "children serve the calls");
      // Spare children may be added meanwhile; none of those that served the first burst has exited.
      const after = childPids(program.child.pid!);
      assert.deepEqual(first.filter((pid) => !after.includes(pid)), [], "no child retired after its call");
      await terminate(program);
    } finally {
      await stopEcho(program);
    }
  });

  test("bad options: one line on stderr and exit 2", async () => {
    for (
      const [args, message] of [
        [["--port", "70000"], /port must be 0-65535/],
        [["--mode", "fast"], /--mode must be one of sync, async, threading, forking/],
        [["--transport", "unix", "--path", "/tmp/x", "--register"], /--register needs --transport tcp or udp/],
        [["--requests-per-child", "0"], /--requests-per-child must be a positive integer or Infinity/],
      ] as const
    ) {
      const program = startExample("rpc_calc", args);
      try {
        const { code } = await within(20_000, program.exited);
        assert.equal(code, 2);
        assert.equal(program.stderr().trimEnd().split("\n").length, 1, program.stderr());
        assert.match(program.stderr(), message);
      } finally {
        await stopEcho(program);
      }
    }
  });

  test("portmap.ts --port 0: serves DUMP, and exits 0 on SIGTERM", async () => {
    const program = startExample("portmap", ["--port", "0"]);
    try {
      const [, port] = (await listeningAddress(program)) as [string, number];
      const mappings = await pmapDump({ port });
      assert.deepEqual(mappings.map((m) => [m.prog, m.vers, m.port]), [[100000, 2, port], [100000, 2, port]]);
      await terminate(program);
    } finally {
      await stopEcho(program);
    }
  });
});

/** The process ids of `pid`'s running children (Linux `/proc`), sorted. */
function childPids(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`)
    .flatMap((task) => readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim().split(/\s+/))
    .filter(Boolean).map(Number).sort((a, b) => a - b);
}

/** ADD's arguments: two XDR ints. */
function pair(a: number, b: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setInt32(0, a);
  new DataView(bytes.buffer).setInt32(4, b);
  return bytes;
}
