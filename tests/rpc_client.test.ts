// RpcClient against this library's RPC servers over TCP, UDP and unix stream sockets: results, typed stubs, error
// replies as RpcError, AUTH_SYS, timeouts, pipelined calls, multi-fragment calls, and UDP retransmission.
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { describe, test } from "node:test";
import {
  ACCEPT_STAT,
  AsyncRpcTCPServer,
  AsyncRpcUDPServer,
  AsyncRpcUnixStreamServer,
  AUTH_STAT,
  authSys,
  defineProgram,
  RpcClient,
  type RpcClientTarget,
  RpcError,
  SocketTimeoutError,
  xdr,
} from "../mod.ts";
import { type AnyServer, serving, socketPath } from "./_helpers.ts";
import { TEST_PROG, TestDatagram, TestStream } from "./rpc_handlers.ts";
import { Calc, CalcDatagram, CalcStream } from "../examples/rpc_calc_handlers.ts";

const Test = defineProgram({
  name: "TEST_PROG",
  number: TEST_PROG,
  versions: {
    1: {
      WHOAMI: { proc: 3, args: xdr.voidType(), result: xdr.struct({ uid: xdr.int(), machine: xdr.string() }) },
      REPEAT: { proc: 4, args: xdr.uint(), result: xdr.string() },
      SECRET: { proc: 5, args: xdr.voidType(), result: xdr.string(10) },
      SLEEP: { proc: 7, args: xdr.uint(), result: xdr.uint() },
    },
  },
});

const KINDS: Array<
  { name: string; calc: () => AnyServer; test: () => AnyServer; target: (s: AnyServer) => RpcClientTarget }
> = [
  {
    name: "tcp",
    calc: () => new AsyncRpcTCPServer(["127.0.0.1", 0], CalcStream),
    test: () => new AsyncRpcTCPServer(["127.0.0.1", 0], TestStream),
    target: (s) => ({ transport: "tcp", host: "127.0.0.1", port: (s.serverAddress as [string, number])[1] }),
  },
  {
    name: "udp",
    calc: () => new AsyncRpcUDPServer(["127.0.0.1", 0], CalcDatagram),
    test: () => new AsyncRpcUDPServer(["127.0.0.1", 0], TestDatagram),
    target: (s) => ({ transport: "udp", host: "127.0.0.1", port: (s.serverAddress as [string, number])[1] }),
  },
  {
    name: "unix",
    calc: () => new AsyncRpcUnixStreamServer(socketPath("rpc"), CalcStream),
    test: () => new AsyncRpcUnixStreamServer(socketPath("rpc"), TestStream),
    target: (s) => ({ transport: "unix", path: s.serverAddress as string }),
  },
];

for (const kind of KINDS) {
  describe(`RpcClient over ${kind.name}`, () => {
    test("call, ping and a typed stub", () =>
      serving(kind.calc(), async (server) => {
        await using client = await RpcClient.connect(kind.target(server));
        await client.ping(Calc.number, 1);
        assert.equal(
          await client.call(Calc.number, 1, 1, xdr.struct({ a: xdr.int(), b: xdr.int() }), { a: 2, b: 40 }, xdr.int()),
          42,
        );
        const calc = client.stub(Calc, 1);
        const sum: number = await calc.ADD({ a: 0x7fff_ffff, b: 1 });
        assert.equal(sum, -0x8000_0000);
        assert.equal(await calc.ECHO("hello"), "hello");
        // Many calls in flight at once on one client, matched by XID.
        const sums = await Promise.all(Array.from({ length: 50 }, (_, i) => calc.ADD({ a: i, b: 1000 })));
        assert.deepEqual(sums, Array.from({ length: 50 }, (_, i) => i + 1000));
      }));

    test("error replies arrive as RpcError", () =>
      serving(kind.test(), async (server) => {
        await using client = await RpcClient.connect(kind.target(server));
        await assert.rejects(client.ping(0x2000_0000, 1), (error: unknown) => {
          assert.ok(error instanceof RpcError);
          assert.equal(error.stat, ACCEPT_STAT.PROG_UNAVAIL);
          assert.equal(error.message, "program unavailable");
          return true;
        });
        await assert.rejects(client.ping(TEST_PROG, 2), (error: unknown) => {
          assert.ok(error instanceof RpcError);
          assert.deepEqual([error.stat, error.low, error.high], [ACCEPT_STAT.PROG_MISMATCH, 1, 3]);
          assert.equal(error.message, "program/version mismatch: low version = 1, high version = 3");
          return true;
        });
        await assert.rejects(
          client.call(TEST_PROG, 1, 99, xdr.voidType(), undefined, xdr.voidType()),
          /procedure unavailable/,
        );
        const test = client.stub(Test, 1);
        await assert.rejects(test.SECRET(undefined), (error: unknown) => {
          assert.ok(error instanceof RpcError);
          assert.deepEqual([error.kind, error.stat], ["auth", AUTH_STAT.AUTH_TOOWEAK]);
          return true;
        });
        // The same call with AUTH_SYS passes, and the procedure sees the credential.
        const cred = authSys({ machineName: "lab7", uid: 4242, gid: 10 });
        assert.equal(await test.SECRET(undefined, { cred }), "secret");
        assert.deepEqual(await test.WHOAMI(undefined, { cred }), { uid: 4242, machine: "lab7" });
        // A result that does not decode as the declared type is an XdrError on the client.
        await assert.rejects(
          client.call(TEST_PROG, 1, 4, xdr.uint(), 20, xdr.string(5)),
          /result: string longer than 5/,
        );
      }));

    test("a call without a reply in time fails with SocketTimeoutError; the client goes on", () =>
      serving(kind.test(), async (server) => {
        await using client = await RpcClient.connect(kind.target(server), { retransmitInterval: 100 });
        const test = client.stub(Test, 1);
        await assert.rejects(test.SLEEP(1000, { timeout: 300 }), SocketTimeoutError);
        assert.equal(await test.SLEEP(1), 1);
      }));
  });
}

describe("RpcClient specifics", () => {
  test("a stream call sent in many fragments, and a 300 KB result", () =>
    serving(new AsyncRpcTCPServer(["127.0.0.1", 0], CalcStream), async (server) => {
      const port = (server.serverAddress as [string, number])[1];
      await using client = await RpcClient.connect({ transport: "tcp", host: "127.0.0.1", port }, {
        maxFragmentSize: 1000,
      });
      const big = "z".repeat(300_000);
      assert.equal(await client.stub(Calc, 1).BIGECHO(big), big);
    }));

  test("UDP: an unanswered call is retransmitted with the same XID", async () => {
    // A server that ignores the first two datagrams, then answers NULL.
    const socket = dgram.createSocket("udp4");
    const seen: Array<{ xid: number; at: number }> = [];
    socket.on("message", (message: Buffer, from) => {
      seen.push({ xid: message.readUInt32BE(0), at: Date.now() });
      if (seen.length < 3) return;
      const reply = Buffer.alloc(24);
      reply.writeUInt32BE(message.readUInt32BE(0), 0);
      reply.writeUInt32BE(1, 4);
      socket.send(reply, from.port, from.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
    try {
      const port = socket.address().port;
      await using client = await RpcClient.connect({ transport: "udp", host: "127.0.0.1", port }, {
        retransmitInterval: 200,
      });
      await client.ping(1, 1);
      assert.equal(seen.length, 3);
      assert.equal(new Set(seen.map((s) => s.xid)).size, 1, "the same XID each time");
      assert.ok(seen[2].at - seen[0].at >= 300, "retransmitted at the interval, not at once");
    } finally {
      socket.close();
    }
  });

  test("a closed client refuses calls; a refused connection rejects connect", async () => {
    let port = 0;
    await serving(new AsyncRpcTCPServer(["127.0.0.1", 0], CalcStream), async (server) => {
      port = (server.serverAddress as [string, number])[1];
      const client = await RpcClient.connect({ transport: "tcp", host: "127.0.0.1", port });
      await client.close();
      await assert.rejects(client.ping(Calc.number, 1), /closed/);
    });
    await assert.rejects(RpcClient.connect({ transport: "tcp", host: "127.0.0.1", port }), /ECONNREFUSED|refused/i);
  });
});
