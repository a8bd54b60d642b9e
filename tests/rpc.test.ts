// ONC RPC servers (RFC 5531) from hand-made messages: every reply, authentication, and the limits of record marking,
// over TCP, UDP and unix stream sockets.
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { describe, test } from "node:test";
import {
  AsyncRpcTCPServer,
  AsyncRpcUDPServer,
  AUTH_FLAVOR,
  authSys,
  ForkingRpcUDPServer,
  type OpaqueAuth,
  RpcStreamHandler,
  RpcTCPServer,
  RpcUDPServer,
  RpcUnixStreamServer,
  type SocketAddress,
  ThreadingRpcUDPServer,
  xdr,
} from "../mod.ts";
import { type AnyServer, recordErrors, serving, sleep, socketPath, waitFor } from "./_helpers.ts";
import {
  callMessage,
  concat,
  fragmentHeader,
  RecordClient,
  streamCall,
  streamExchange,
  udpCall,
  UdpPeer,
  unwords,
  words,
} from "./_rpc.ts";
import { TEST_PROG, TestDatagram, testProgram, TestStream } from "./rpc_handlers.ts";
import { calc } from "../examples/rpc_calc_handlers.ts";

const LOOPBACK = ["127.0.0.1", 0] as const;
const hexWord = (n: number): string => (n >>> 0).toString(16).padStart(8, "0");

/** An accepted reply: xid, REPLY, MSG_ACCEPTED, AUTH_NONE verifier, `stat`, then `rest` (as hex words). */
function accepted(xid: number, stat: number, ...rest: string[]): string {
  return [hexWord(xid), "00000001", "00000000", "00000000", "00000000", hexWord(stat), ...rest].join(" ");
}
/** A denied reply: xid, REPLY, MSG_DENIED, then `rest`. */
function denied(xid: number, ...rest: string[]): string {
  return [hexWord(xid), "00000001", "00000001", ...rest].join(" ");
}

const pair = (a: number, b: number): Uint8Array => xdr.encode(xdr.struct({ a: xdr.int(), b: xdr.int() }), { a, b });
const u32 = (n: number): Uint8Array => xdr.encode(xdr.uint(), n);
const rawAuth = (flavor: number, body: Uint8Array): OpaqueAuth => ({ flavor, body });

interface Transport {
  name: string;
  make(): AnyServer;
  call(address: SocketAddress, message: Uint8Array): Promise<Uint8Array | null>;
}

const TRANSPORTS: Transport[] = [
  { name: "tcp (async)", make: () => new AsyncRpcTCPServer([...LOOPBACK], TestStream), call: streamCall },
  { name: "udp (async)", make: () => new AsyncRpcUDPServer([...LOOPBACK], TestDatagram), call: udpCall },
  { name: "unix stream (sync)", make: () => new RpcUnixStreamServer(socketPath("rpc"), TestStream), call: streamCall },
];

for (const transport of TRANSPORTS) {
  describe(`RPC replies over ${transport.name}`, () => {
    const run = (body: (call: (m: Uint8Array) => Promise<string | null>, server: AnyServer) => Promise<void>) =>
      serving(transport.make(), async (server) => {
        const call = async (message: Uint8Array) => {
          const reply = await transport.call(server.serverAddress, message);
          return reply === null ? null : words(reply);
        };
        await body(call, server);
      });

    test("SUCCESS: NULL in every version, ADD with 32-bit wrap-around", () =>
      run(async (call) => {
        assert.equal(await call(callMessage({ xid: 7, prog: TEST_PROG, vers: 1, proc: 0 })), accepted(7, 0));
        assert.equal(await call(callMessage({ xid: 8, prog: TEST_PROG, vers: 3, proc: 0 })), accepted(8, 0));
        assert.equal(
          await call(callMessage({ xid: 9, prog: TEST_PROG, vers: 1, proc: 1 }, pair(2, 40))),
          accepted(9, 0, "0000002a"),
        );
        assert.equal(
          await call(callMessage({ xid: 10, prog: TEST_PROG, vers: 1, proc: 1 }, pair(0x7fff_ffff, 1))),
          accepted(10, 0, "80000000"),
        );
        assert.equal(
          await call(callMessage({ xid: 11, prog: TEST_PROG, vers: 3, proc: 1 }, u32(5))),
          accepted(11, 0, "fffffffb"),
        );
      }));

    test("PROG_UNAVAIL, PROG_MISMATCH with the real lowest and highest versions, PROC_UNAVAIL", () =>
      run(async (call) => {
        // The bytes libtirpc sends for an unknown program.
        assert.equal(
          await call(callMessage({ xid: 1, prog: 0x2000_0000, vers: 1, proc: 0 })),
          "00000001 00000001 00000000 00000000 00000000 00000001",
        );
        assert.equal(
          await call(callMessage({ xid: 2, prog: TEST_PROG, vers: 2, proc: 0 })),
          accepted(2, 2, "00000001", "00000003"),
        );
        assert.equal(
          await call(callMessage({ xid: 3, prog: TEST_PROG, vers: 0, proc: 0 })),
          accepted(3, 2, "00000001", "00000003"),
        );
        assert.equal(await call(callMessage({ xid: 4, prog: TEST_PROG, vers: 1, proc: 99 })), accepted(4, 3));
        assert.equal(await call(callMessage({ xid: 5, prog: TEST_PROG, vers: 3, proc: 2 })), accepted(5, 3));
      }));

    test("GARBAGE_ARGS: arguments short, left over, undecodable, or refused by the procedure", () =>
      run(async (call) => {
        const add = (xid: number, args: Uint8Array) => callMessage({ xid, prog: TEST_PROG, vers: 1, proc: 1 }, args);
        assert.equal(await call(add(1, pair(2, 40).subarray(0, 4))), accepted(1, 4));
        assert.equal(await call(add(2, concat(pair(2, 40), u32(0)))), accepted(2, 4));
        assert.equal(await call(callMessage({ xid: 3, prog: TEST_PROG, vers: 1, proc: 0 }, u32(0))), accepted(3, 4));
        // A string whose length word promises 300000 bytes (what libtirpc sends for an ECHO it failed to encode).
        assert.equal(
          await call(callMessage({ xid: 4, prog: TEST_PROG, vers: 1, proc: 4 }, u32(300000).subarray(0, 3))),
          accepted(4, 4),
        );
        assert.equal(
          await call(callMessage({ xid: 5, prog: TEST_PROG, vers: 1, proc: 6 }, u32(0xffff_ffff))),
          accepted(5, 4),
        );
        assert.equal(
          await call(callMessage({ xid: 6, prog: TEST_PROG, vers: 1, proc: 6 }, u32(3))),
          accepted(6, 0, "00000003"),
        );
      }));

    test("SYSTEM_ERR for a procedure that throws or returns a bad result, reported to handleError", async () => {
      const server = transport.make();
      const errors = recordErrors(server);
      await serving(server, async () => {
        const reply = await transport.call(
          server.serverAddress,
          callMessage({ xid: 3, prog: TEST_PROG, vers: 1, proc: 2 }),
        );
        assert.equal(words(reply!), accepted(3, 5));
        const bad = await transport.call(
          server.serverAddress,
          callMessage({ xid: 4, prog: TEST_PROG, vers: 1, proc: 8 }),
        );
        assert.equal(words(bad!), accepted(4, 5));
        await waitFor(() => errors.length === 2, 5000, "two reports");
      });
      assert.ok(errors[0].error instanceof TypeError);
      assert.match(String(errors[0].error), /thrown on purpose by THROW/);
      assert.match(String(errors[1].error), /XdrError: result of BADRESULT: string longer than 2/);
    });

    test("RPC_MISMATCH (2, 2) for rpcvers other than 2", () =>
      run(async (call) => {
        assert.equal(
          await call(callMessage({ xid: 5, rpcvers: 3, prog: TEST_PROG, vers: 1, proc: 0 })),
          denied(5, "00000000", "00000002", "00000002"),
        );
      }));

    test("AUTH_ERROR: unknown flavor, bad AUTH_SYS bodies, oversized credential, and the hook", () =>
      run(async (call) => {
        const ping = (xid: number, cred: OpaqueAuth, proc = 0) =>
          call(callMessage({ xid, prog: TEST_PROG, vers: 1, proc, cred }));
        const REJECTEDCRED = denied(1, "00000001", "00000002");
        assert.equal(await ping(1, rawAuth(99, new Uint8Array(0))), REJECTEDCRED);
        assert.equal(await ping(1, rawAuth(AUTH_FLAVOR.AUTH_SHORT, new Uint8Array(8))), REJECTEDCRED);
        const good = authSys({ machineName: "vm", uid: 1000, gid: 100, gids: [1, 2] }).body;
        const badcred = (xid: number) => denied(xid, "00000001", "00000001");
        assert.equal(await ping(2, rawAuth(AUTH_FLAVOR.AUTH_SYS, good.subarray(0, good.length - 4))), badcred(2));
        assert.equal(await ping(3, rawAuth(AUTH_FLAVOR.AUTH_SYS, concat(good, u32(0)))), badcred(3));
        const parms = (name: string, gids: number) =>
          concat(
            u32(1),
            xdr.encode(xdr.string(), name),
            u32(0),
            u32(0),
            xdr.encode(xdr.array(xdr.uint()), Array(gids).fill(7)),
          );
        assert.equal(await ping(4, rawAuth(AUTH_FLAVOR.AUTH_SYS, parms("m".repeat(256), 0))), badcred(4));
        assert.equal(await ping(5, rawAuth(AUTH_FLAVOR.AUTH_SYS, parms("m", 17))), badcred(5));
        assert.equal(await ping(6, rawAuth(AUTH_FLAVOR.AUTH_SYS, parms("m", 16))), accepted(6, 0));
        // A 404-byte credential: longer than MAX_AUTH_BYTES.
        const long = callMessage({ xid: 7, prog: TEST_PROG, vers: 1, proc: 0 });
        assert.equal(
          await call(concat(long.subarray(0, 28), u32(404), new Uint8Array(404), long.subarray(32))),
          badcred(7),
        );
        // AUTH_NONE credential with an AUTH_SYS-flavored verifier is accepted, as libtirpc does.
        assert.equal(
          await call(callMessage({ xid: 8, prog: TEST_PROG, vers: 1, proc: 0, verf: rawAuth(1, good) })),
          accepted(8, 0),
        );
        // The hook: SECRET needs AUTH_SYS.
        assert.equal(await ping(9, rawAuth(0, new Uint8Array(0)), 5), denied(9, "00000001", "00000005"));
        assert.equal(
          await ping(10, rawAuth(AUTH_FLAVOR.AUTH_SYS, good), 5),
          accepted(10, 0, "00000006 73656372 65740000"),
        );
        // The procedure sees the parsed credential.
        const who = await ping(11, rawAuth(AUTH_FLAVOR.AUTH_SYS, good), 3);
        assert.equal(who, accepted(11, 0, "000003e8", "00000002 766d0000"));
      }));

    test("messages that are not calls get no reply, and the server goes on", () =>
      run(async (_call, server) => {
        const notCall = callMessage({ xid: 1, prog: TEST_PROG, vers: 1, proc: 0 });
        new DataView(notCall.buffer).setUint32(4, 1); // mtype REPLY
        const good = callMessage({ xid: 2, prog: TEST_PROG, vers: 1, proc: 0 });
        if (transport.name.startsWith("udp")) {
          for (const message of [notCall, unwords("00000001 00000000"), unwords("00000001 00000000 00000002 2000")]) {
            assert.equal(await udpCall(server.serverAddress, message, 300), null);
          }
          assert.equal(words((await udpCall(server.serverAddress, good))!), accepted(2, 0));
        } else {
          // On a stream: the non-call and a header cut short are skipped; the call after them is answered.
          const client = await RecordClient.connect(server.serverAddress);
          try {
            client.sendRecord(notCall);
            client.sendRecord(unwords("00000001 00000000 00000002 2000"));
            client.sendRecord(good);
            assert.equal(words((await client.next())!), accepted(2, 0));
          } finally {
            client.close();
          }
        }
      }));
  });
}

describe("RPC over streams: record marking and its limits", () => {
  const ping = (xid: number) => callMessage({ xid, prog: TEST_PROG, vers: 1, proc: 0 });
  const withServer = (
    options: ConstructorParameters<typeof AsyncRpcTCPServer>[2],
    body: (address: SocketAddress) => Promise<void>,
  ) => serving(new AsyncRpcTCPServer([...LOOPBACK], TestStream, options), (server) => body(server.serverAddress));
  /** The server still answers a fresh connection. */
  const stillServes = async (address: SocketAddress) =>
    assert.equal(words((await streamCall(address, ping(99)))!), accepted(99, 0));

  test("pipelined calls in one write are all answered, in order", () =>
    withServer({}, async (address) => {
      const client = await RecordClient.connect(address);
      try {
        const calls = Array.from(
          { length: 20 },
          (_, i) => concat(fragmentHeader(ping(i + 1).length, true), ping(i + 1)),
        );
        client.send(concat(...calls));
        for (let i = 1; i <= 20; i++) assert.equal(words((await client.next())!), accepted(i, 0));
      } finally {
        client.close();
      }
    }));

  test("pipelined behind an async procedure, calls wait their turn; a half-close still gets every reply", () =>
    withServer({}, async (address) => {
      const client = await RecordClient.connect(address);
      try {
        const sleep = callMessage({ xid: 1, prog: TEST_PROG, vers: 1, proc: 7 }, xdr.encode(xdr.uint(), 80));
        const add = callMessage({ xid: 2, prog: TEST_PROG, vers: 1, proc: 1 }, pair(20, 22));
        const records = [sleep, add, ping(3), sleep.slice()].map((m, i) => {
          if (i === 3) new DataView(m.buffer).setUint32(0, 4);
          return concat(fragmentHeader(m.length, true), m);
        });
        client.send(concat(...records));
        // The client is done sending: the server owes four replies, two of them after a sleep, before it closes.
        client.socket.end();
        assert.equal(words((await client.next())!), accepted(1, 0, "00000050"));
        assert.equal(words((await client.next())!), accepted(2, 0, "0000002a"));
        assert.equal(words((await client.next())!), accepted(3, 0));
        assert.equal(words((await client.next())!), accepted(4, 0, "00000050"));
        assert.equal(await client.next(), null, "then the server closes");
        assert.equal(client.ended, "end");
      } finally {
        client.close();
      }
    }));

  test("a half-close inside a record resets the connection; nothing is answered", () =>
    withServer({}, async (address) => {
      const client = await RecordClient.connect(address);
      try {
        const message = ping(5);
        client.send(concat(fragmentHeader(message.length, true), message.subarray(0, 10)));
        client.socket.end();
        assert.equal(await client.next(), null);
        await stillServes(address);
      } finally {
        client.close();
      }
    }));

  test("a call in several fragments, cut anywhere, is answered", () =>
    withServer({}, async (address) => {
      const message = callMessage({ xid: 5, prog: TEST_PROG, vers: 1, proc: 1 }, pair(20, 22));
      for (const cuts of [[4], [24, 40], [1, 2, 3, 45], Array.from({ length: message.length - 1 }, (_, i) => i + 1)]) {
        const pieces: Uint8Array[] = [];
        let from = 0;
        for (const cut of [...cuts, message.length]) {
          pieces.push(fragmentHeader(cut - from, cut === message.length), message.subarray(from, cut));
          from = cut;
        }
        assert.equal(words((await streamExchange(address, concat(...pieces)))!), accepted(5, 0, "0000002a"));
      }
    }));

  test("an empty non-last fragment, an empty record, or a record over maxRecordSize closes the connection", () =>
    withServer({ maxRecordSize: 1000 }, async (address) => {
      for (
        const bytes of [
          unwords("00000000"),
          unwords("80000000"),
          fragmentHeader(1001, true),
          concat(fragmentHeader(600, false), new Uint8Array(600), fragmentHeader(401, true)),
        ]
      ) {
        const client = await RecordClient.connect(address);
        try {
          client.send(bytes);
          assert.equal(await client.next(), null);
        } finally {
          client.close();
        }
        await stillServes(address);
      }
      // A record of exactly maxRecordSize is read, and (not being a call) dropped: the connection stays.
      const client = await RecordClient.connect(address);
      try {
        const notCall = new Uint8Array(1000);
        notCall[7] = 1; // mtype REPLY
        client.send(concat(fragmentHeader(1000, true), notCall));
        client.sendRecord(ping(3));
        assert.equal(words((await client.next())!), accepted(3, 0));
      } finally {
        client.close();
      }
    }));

  test("more fragments than maxFragments closes the connection", () =>
    withServer({ maxFragments: 4 }, async (address) => {
      const message = ping(1);
      const split = (count: number) => {
        const size = Math.ceil(message.length / count);
        const parts: Uint8Array[] = [];
        for (let i = 0; i < count; i++) {
          const piece = message.subarray(i * size, (i + 1) * size);
          parts.push(fragmentHeader(piece.length, i === count - 1), piece);
        }
        return concat(...parts);
      };
      assert.equal(words((await streamExchange(address, split(4)))!), accepted(1, 0));
      const client = await RecordClient.connect(address);
      client.send(split(5));
      assert.equal(await client.next(), null);
      client.close();
      await stillServes(address);
    }));

  test("an idle connection and a partial record are closed after their timeouts", () =>
    withServer({ idleTimeout: 300, recordTimeout: 300 }, async (address) => {
      const idle = await RecordClient.connect(address);
      const partial = await RecordClient.connect(address);
      const started = Date.now();
      partial.send(concat(fragmentHeader(40, true), ping(1).subarray(0, 20)));
      // A slow client trickling bytes is still cut off at the record deadline.
      const trickle = setInterval(() => partial.socket.writable && partial.socket.write(new Uint8Array(1)), 50);
      try {
        assert.equal(await partial.next(3000), null);
        assert.equal(await idle.next(3000), null);
      } finally {
        clearInterval(trickle);
      }
      assert.ok(Date.now() - started >= 250, "closed too early");
      idle.close();
      partial.close();
      await stillServes(address);
    }));

  test("a connection that sends calls slower than idleTimeout but each in time stays open", () =>
    withServer({ idleTimeout: 400 }, async (address) => {
      const client = await RecordClient.connect(address);
      try {
        for (let i = 1; i <= 3; i++) {
          await sleep(150);
          client.sendRecord(ping(i));
          assert.equal(words((await client.next())!), accepted(i, 0));
        }
      } finally {
        client.close();
      }
    }));

  test("a 300 KB argument (below maxRecordSize) echoes back; one above is refused", () =>
    withServer({ maxRecordSize: 400_000 }, async (address) => {
      const big = xdr.encode(xdr.string(), "y".repeat(300_000));
      const reply = await streamCall(address, callMessage({ xid: 1, prog: TEST_PROG, vers: 1, proc: 4 }, u32(300_000)));
      assert.equal(reply!.length, 24 + big.length);
      assert.equal(words(reply!.subarray(0, 28)), accepted(1, 0, hexWord(300_000)));
      const client = await RecordClient.connect(address);
      client.sendRecord(callMessage({ xid: 2, prog: TEST_PROG, vers: 1, proc: 4 }, new Uint8Array(400_000)));
      assert.equal(await client.next(), null);
      client.close();
    }));
});

describe("RPC over UDP: limits", () => {
  test("a reply above 65,507 bytes is SYSTEM_ERR, reported; one just below is sent", async () => {
    const server = new RpcUDPServer([...LOOPBACK], TestDatagram);
    const errors = recordErrors(server);
    await serving(server, async () => {
      const repeat = (xid: number, n: number) =>
        udpCall(server.serverAddress, callMessage({ xid, prog: TEST_PROG, vers: 1, proc: 4 }, u32(n)));
      // Reply = 24 header bytes + 4 length + n padded to 4: 65,504 is the longest that fits.
      const fits = await repeat(1, 65_504 - 28);
      assert.equal(fits!.length, 65_504);
      assert.equal(words((await repeat(2, 65_504 - 27))!), accepted(2, 5));
      await waitFor(() => errors.length === 1, 5000, "the report");
    });
    assert.match(String(errors[0].error), /more than the 65507 allowed/);
  });

  test("procedures on the sync UDP server run one at a time; the async server overlaps them", async () => {
    for (const [Server, overlapped] of [[RpcUDPServer, false], [AsyncRpcUDPServer, true]] as const) {
      await serving(new Server([...LOOPBACK], TestDatagram), async (server) => {
        const started = Date.now();
        const sleeps = [1, 2, 3].map((xid) =>
          udpCall(server.serverAddress, callMessage({ xid, prog: TEST_PROG, vers: 1, proc: 7 }, u32(300)))
        );
        for (const [i, reply] of (await Promise.all(sleeps)).entries()) {
          assert.equal(words(reply!), accepted(i + 1, 0, hexWord(300)));
        }
        const elapsed = Date.now() - started;
        if (overlapped) assert.ok(elapsed < 850, `async took ${elapsed} ms`);
        else assert.ok(elapsed >= 850, `sync took only ${elapsed} ms`);
      });
    }
  });
});

describe("RPC servers", () => {
  test("several programs and versions on one server; programs given without a handler class", async () => {
    await serving(new RpcTCPServer([...LOOPBACK], [calc, testProgram]), async (server) => {
      assert.deepEqual(server.registrations, [[0x2000_0099, 1], [TEST_PROG, 1], [TEST_PROG, 3]]);
      const add = await streamCall(
        server.serverAddress,
        callMessage({ xid: 1, prog: 0x2000_0099, vers: 1, proc: 1 }, pair(1, 2)),
      );
      assert.equal(words(add!), accepted(1, 0, "00000003"));
      const neg = await streamCall(
        server.serverAddress,
        callMessage({ xid: 2, prog: TEST_PROG, vers: 3, proc: 1 }, u32(1)),
      );
      assert.equal(words(neg!), accepted(2, 0, "ffffffff"));
    });
  });

  test("a handler class without programs fails with a message that says what to add", () => {
    const server = new RpcTCPServer([...LOOPBACK], RpcStreamHandler);
    assert.throws(() => server.registrations, /serves no program: set `static override programs/);
  });
});

describe("UDP duplicate-request cache", () => {
  const count = (xid: number, ms = 0) => callMessage({ xid, prog: TEST_PROG, vers: 1, proc: 9 }, u32(ms));
  const ran = (reply: Uint8Array | null) => new DataView(reply!.buffer, reply!.byteOffset).getUint32(24);
  const withPeer = async (body: (peer: UdpPeer) => Promise<void>) => {
    const peer = await UdpPeer.open();
    try {
      await body(peer);
    } finally {
      peer.close();
    }
  };

  test("a retransmitted call is answered from the cache, not run again; a new XID or another client runs", () =>
    serving(new AsyncRpcUDPServer([...LOOPBACK], TestDatagram), (server) =>
      withPeer(async (peer) => {
        const first = await peer.call(server.serverAddress, count(0x51));
        const again = await peer.call(server.serverAddress, count(0x51));
        assert.equal(words(again!), words(first!), "the same reply, so COUNT ran once");
        assert.equal(ran(await peer.call(server.serverAddress, count(0x52))), ran(first) + 1);
        // The same XID from another client (another source port) is another call.
        assert.equal(ran(await udpCall(server.serverAddress, count(0x51))), ran(first) + 2);
        assert.equal(server.duplicateRequests?.stats.replayed, 1);
      })));

  test("a retransmission while the first copy runs is dropped: one reply", () =>
    serving(new AsyncRpcUDPServer([...LOOPBACK], TestDatagram), async (server) => {
      const [host, port] = server.serverAddress as [string, number];
      const socket = dgram.createSocket("udp4");
      const replies: Buffer[] = [];
      socket.on("message", (message: Buffer) => replies.push(message));
      await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
      try {
        const message = count(0x61, 300);
        for (let i = 0; i < 3; i++) socket.send(message, port, host);
        await waitFor(() => replies.length >= 1, 5000, "a reply");
        await sleep(400);
        assert.equal(replies.length, 1);
        assert.equal(server.duplicateRequests?.stats.dropped, 2);
        // After the reply, a retransmission gets it again.
        socket.send(message, port, host);
        await waitFor(() => replies.length === 2, 5000, "the replayed reply");
        assert.deepEqual(replies[1], replies[0]);
      } finally {
        socket.close();
      }
    }));

  test("the cache is bounded by entries and age; duplicateRequestCache: null turns it off", async () => {
    const bounded = new AsyncRpcUDPServer([...LOOPBACK], TestDatagram, {
      duplicateRequestCache: { maxEntries: 2, maxAge: 200 },
    });
    await serving(bounded, (server) =>
      withPeer(async (peer) => {
        const call = async (xid: number) => ran(await peer.call(server.serverAddress, count(xid)));
        const a = await call(0x71);
        assert.equal(await call(0x71), a, "cached");
        await call(0x72);
        await call(0x73); // pushes 0x71 out
        assert.notEqual(await call(0x71), a, "evicted: ran again");
        assert.ok(server.duplicateRequests!.size <= 2);
        const b = await call(0x74);
        await sleep(300);
        assert.notEqual(await call(0x74), b, "expired: ran again");
      }));
    await serving(
      new AsyncRpcUDPServer([...LOOPBACK], TestDatagram, { duplicateRequestCache: null }),
      (server) =>
        withPeer(async (peer) => {
          const first = ran(await peer.call(server.serverAddress, count(0x81)));
          assert.equal(ran(await peer.call(server.serverAddress, count(0x81))), first + 1, "no cache: ran twice");
          assert.equal(server.duplicateRequests, null);
        }),
    );
  });

  test("threading and forking UDP servers answer a retransmission from the cache in the main process", async () => {
    const servers = [
      new ThreadingRpcUDPServer([...LOOPBACK], TestDatagram),
      new ForkingRpcUDPServer([...LOOPBACK], TestDatagram),
    ];
    for (const server of servers) {
      await serving(server, () =>
        withPeer(async (peer) => {
          const first = await peer.call(server.serverAddress, count(0x91), 30_000);
          const again = await peer.call(server.serverAddress, count(0x91), 30_000);
          assert.equal(words(again!), words(first!));
          assert.equal(server.duplicateRequests?.stats.replayed, 1);
        }));
    }
  });
});
