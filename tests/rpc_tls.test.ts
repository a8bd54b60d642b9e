// RPC over TLS: a stream RPC server with the `tls` option serves calls on TLS connections, and procedures and the
// authenticate hook see the connection's TLS facts (a procedure may require a client certificate).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type tls from "node:tls";
import { AsyncRpcTCPServer, AUTH_STAT, type RpcCallContext, xdr } from "../mod.ts";
import { serving } from "./_helpers.ts";
import { callMessage, concat, fragmentHeader, words } from "./_rpc.ts";
import { CA, clientOptions, SERVER, tlsConnect } from "./_tls.ts";
import { TEST_PROG, TestStream } from "./rpc_handlers.ts";

/** SECRET (procedure 5) needs a trusted client certificate here. */
class CertificateStream extends TestStream {
  override authenticate(call: RpcCallContext): number | undefined {
    if (call.procedure === 5 && call.tls?.authorized !== true) return AUTH_STAT.AUTH_TOOWEAK;
    return undefined;
  }
}

/** Sends one record on a TLS socket and reads one reply record. */
function tlsCall(socket: tls.TLSSocket, message: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length < 4) return;
      const length = buffer.readUInt32BE(0) & 0x7fff_ffff;
      if (buffer.length < 4 + length) return;
      socket.off("data", onData);
      resolve(new Uint8Array(buffer.subarray(4, 4 + length)));
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.write(concat(fragmentHeader(message.length, true), message));
  });
}

describe("RPC over TLS", () => {
  test("calls on TLS connections; a procedure that needs a client certificate gets AUTH_TOOWEAK without one", () =>
    serving(
      new AsyncRpcTCPServer(["127.0.0.1", 0], CertificateStream, {
        tls: { ...SERVER, ca: CA, clientCertificates: "optional" },
      }),
      async (server) => {
        const add = callMessage(
          { xid: 1, prog: TEST_PROG, vers: 1, proc: 1 },
          xdr.encode(xdr.struct({ a: xdr.int(), b: xdr.int() }), { a: 2, b: 40 }),
        );
        const secret = callMessage({ xid: 2, prog: TEST_PROG, vers: 1, proc: 5 });
        const anonymous = await tlsConnect(server.serverAddress);
        try {
          assert.equal(
            words(await tlsCall(anonymous, add)),
            "00000001 00000001 00000000 00000000 00000000 00000000 0000002a",
          );
          assert.equal(words(await tlsCall(anonymous, secret)), "00000002 00000001 00000001 00000001 00000005");
        } finally {
          anonymous.destroy();
        }
        const alice = await tlsConnect(server.serverAddress, clientOptions("alice"));
        try {
          assert.equal(
            words(await tlsCall(alice, secret)),
            "00000002 00000001 00000000 00000000 00000000 00000000 00000006 73656372 65740000",
          );
        } finally {
          alice.destroy();
        }
      },
    ));
});
