// The RPC servers in every mode: handlers loaded by URL in worker threads and child processes serve the same calls,
// and a procedure's failure there still reaches the server's handleError.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AsyncRpcUnixStreamServer,
  ForkingRpcTCPServer,
  ForkingRpcUDPServer,
  ForkingRpcUnixStreamServer,
  RpcTCPServer,
  ThreadingRpcTCPServer,
  ThreadingRpcUDPServer,
  ThreadingRpcUnixStreamServer,
  xdr,
} from "../mod.ts";
import { type AnyServer, recordErrors, serving, socketPath, waitFor } from "./_helpers.ts";
import { callMessage, RecordClient, streamCall, udpCall, words } from "./_rpc.ts";
import { TEST_PROG, TestDatagram, TestStream } from "./rpc_handlers.ts";
import { calc } from "../examples/rpc_calc_handlers.ts";

const pair = xdr.encode(xdr.struct({ a: xdr.int(), b: xdr.int() }), { a: 2, b: 40 });
const ADD_REPLY = "00000001 00000001 00000000 00000000 00000000 00000000 0000002a";
const SYSTEM_ERR_REPLY = "00000002 00000001 00000000 00000000 00000000 00000005";

/** Starting a worker or a child (and, on Deno, type-checking its modules) takes seconds on a loaded machine. */
const SLOW = 30_000;

const MODES: Array<{ name: string; make: () => AnyServer; udp: boolean }> = [
  { name: "threading tcp", make: () => new ThreadingRpcTCPServer(["127.0.0.1", 0], TestStream), udp: false },
  { name: "threading udp", make: () => new ThreadingRpcUDPServer(["127.0.0.1", 0], TestDatagram), udp: true },
  { name: "threading unix", make: () => new ThreadingRpcUnixStreamServer(socketPath("rpc"), TestStream), udp: false },
  { name: "forking tcp", make: () => new ForkingRpcTCPServer(["127.0.0.1", 0], TestStream), udp: false },
  { name: "forking udp", make: () => new ForkingRpcUDPServer(["127.0.0.1", 0], TestDatagram), udp: true },
  { name: "forking unix", make: () => new ForkingRpcUnixStreamServer(socketPath("rpc"), TestStream), udp: false },
  { name: "async unix", make: () => new AsyncRpcUnixStreamServer(socketPath("rpc"), TestStream), udp: false },
];

describe("RPC servers in every mode", () => {
  for (const mode of MODES) {
    // A child process reports its handler's failures with its own handleError (on its stderr), as every forking
    // server does; worker threads and the event loop report them to the server's.
    const forking = mode.name.startsWith("forking");
    test(`${mode.name}: ADD answers, THROW gets SYSTEM_ERR${forking ? "" : " and reaches handleError"}`, async () => {
      const server = mode.make();
      const errors = recordErrors(server);
      await serving(server, async () => {
        const call = (message: Uint8Array) =>
          mode.udp ? udpCall(server.serverAddress, message, SLOW) : streamCall(server.serverAddress, message, SLOW);
        const add = await call(callMessage({ xid: 1, prog: TEST_PROG, vers: 1, proc: 1 }, pair));
        assert.equal(words(add!), ADD_REPLY);
        const thrown = await call(callMessage({ xid: 2, prog: TEST_PROG, vers: 1, proc: 2 }));
        assert.equal(words(thrown!), SYSTEM_ERR_REPLY);
        if (!forking) await waitFor(() => errors.length === 1, SLOW, "the report of THROW");
        else assert.equal(errors.length, 0);
      });
      if (!forking) assert.match(String(errors[0].error), /thrown on purpose by THROW/);
    });
  }

  test("a stream connection in a worker goes on after a SYSTEM_ERR; the report comes when it closes", async () => {
    const server = new ThreadingRpcTCPServer(["127.0.0.1", 0], TestStream);
    const errors = recordErrors(server);
    await serving(server, async () => {
      const client = await RecordClient.connect(server.serverAddress);
      try {
        client.sendRecord(callMessage({ xid: 2, prog: TEST_PROG, vers: 1, proc: 2 }));
        assert.equal(words((await client.next(SLOW))!), SYSTEM_ERR_REPLY);
        client.sendRecord(callMessage({ xid: 1, prog: TEST_PROG, vers: 1, proc: 1 }, pair));
        assert.equal(words((await client.next())!), ADD_REPLY);
      } finally {
        client.close();
      }
      await waitFor(() => errors.length === 1, SLOW, "the report of THROW");
    });
  });

  test("the limits set on the server reach handlers in workers", async () => {
    const server = new ThreadingRpcTCPServer(["127.0.0.1", 0], TestStream, { maxRecordSize: 100 });
    await serving(server, async () => {
      const client = await RecordClient.connect(server.serverAddress);
      try {
        client.sendRecord(new Uint8Array(104));
        assert.equal(await client.next(SLOW), null);
      } finally {
        client.close();
      }
    });
  });

  test("threading and forking need a handler class importable by URL, and say so", async () => {
    const programsOnly = new RpcTCPServer(["127.0.0.1", 0], [calc]);
    assert.equal(typeof programsOnly.registrations, "object");
    const threading = new ThreadingRpcTCPServer(["127.0.0.1", 0], (programsOnly as AnyServer).RequestHandlerClass);
    await assert.rejects(threading.listen(), /cannot be imported by a worker or child process/);
  });
});
