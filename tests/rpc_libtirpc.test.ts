// Real peers: the C client that rpcgen writes from examples/calc.x, built against libtirpc at test time, calls every
// procedure of our calculator over TCP and UDP, with AUTH_NONE and AUTH_SYS, in every mode (its 300 KB BIGECHO goes
// as 5 fragments); rpcinfo pings each program and version. Needs rpcgen and libtirpc-dev (rpcsvc-proto) and rpcinfo
// (rpcbind); `.ci/run` installs them.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  AsyncRpcTCPServer,
  AsyncRpcUDPServer,
  ForkingRpcTCPServer,
  ForkingRpcUDPServer,
  RpcTCPServer,
  RpcUDPServer,
  ThreadingRpcTCPServer,
  ThreadingRpcUDPServer,
} from "../mod.ts";
import { type AnyServer, serving } from "./_helpers.ts";
import { buildCalcClient, RPC_TOOLS_MISSING as skip, run, uaddr } from "./_rpcgen.ts";
import { CalcDatagram, CalcStream } from "../examples/rpc_calc_handlers.ts";

const portOf = (server: AnyServer): number => (server.serverAddress as [string, number])[1];

const MODES: Array<{ name: string; tcp: () => AnyServer; udp: () => AnyServer }> = [
  {
    name: "sync",
    tcp: () => new RpcTCPServer(["127.0.0.1", 0], CalcStream),
    udp: () => new RpcUDPServer(["127.0.0.1", 0], CalcDatagram),
  },
  {
    name: "async",
    tcp: () => new AsyncRpcTCPServer(["127.0.0.1", 0], CalcStream),
    udp: () => new AsyncRpcUDPServer(["127.0.0.1", 0], CalcDatagram),
  },
  {
    name: "threading",
    tcp: () => new ThreadingRpcTCPServer(["127.0.0.1", 0], CalcStream),
    udp: () => new ThreadingRpcUDPServer(["127.0.0.1", 0], CalcDatagram),
  },
  {
    name: "forking",
    tcp: () => new ForkingRpcTCPServer(["127.0.0.1", 0], CalcStream),
    udp: () => new ForkingRpcUDPServer(["127.0.0.1", 0], CalcDatagram),
  },
];

const EXPECTED = "NULL: RPC: Success\nADD(2,40) = 42\nADD(2147483647,1) = -2147483648\nECHO = hello\n";

describe("libtirpc's rpcgen client and rpcinfo against our servers", { skip }, () => {
  let client = "";
  let cleanup = () => {};
  before(async () => {
    ({ client, cleanup } = await buildCalcClient());
  });
  after(() => cleanup());

  for (const mode of MODES) {
    test(`${mode.name} TCP: every procedure, AUTH_NONE and AUTH_SYS, a 300 KB BIGECHO in 5 fragments`, () =>
      serving(mode.tcp(), async (server) => {
        const port = String(portOf(server));
        const plain = await run(client, ["127.0.0.1", port, "tcp"], { env: { BIG_LEN: "300000" } });
        assert.equal(plain.out, `${EXPECTED}BIGECHO 300000: same\n`);
        assert.equal(plain.code, 0);
        const sys = await run(client, ["127.0.0.1", port, "tcp", "sys"], { env: { ECHO_LEN: "5000" } });
        assert.equal(sys.out, EXPECTED.replace("ECHO = hello", "ECHO 5000: same"));
      }));

    test(`${mode.name} UDP: every procedure, AUTH_NONE and AUTH_SYS`, () =>
      serving(mode.udp(), async (server) => {
        const port = String(portOf(server));
        assert.equal((await run(client, ["127.0.0.1", port, "udp"])).out, EXPECTED);
        const sys = await run(client, ["127.0.0.1", port, "udp", "sys"], { env: { ECHO_LEN: "8000" } });
        assert.equal(sys.out, EXPECTED.replace("ECHO = hello", "ECHO 8000: same"));
      }));
  }

  for (const transport of ["tcp", "udp"] as const) {
    test(`rpcinfo over ${transport}: ready, program unavailable, version mismatch, every version`, async () => {
      const server = transport === "tcp"
        ? new AsyncRpcTCPServer(["127.0.0.1", 0], CalcStream)
        : new AsyncRpcUDPServer(["127.0.0.1", 0], CalcDatagram);
      await serving(server, async () => {
        const address = uaddr(portOf(server));
        const ping = (...args: string[]) => run("/usr/sbin/rpcinfo", ["-a", address, "-T", transport, ...args]);
        assert.deepEqual(await ping("536871065", "1"), {
          code: 0,
          out: "program 536871065 version 1 ready and waiting\n",
        });
        const unavailable = await ping("536871066", "1");
        assert.equal(unavailable.code, 1);
        assert.match(unavailable.out, /rpcinfo: RPC: Program unavailable/);
        const mismatch = await ping("536871065", "7");
        assert.equal(mismatch.code, 1);
        assert.match(mismatch.out, /Program\/version mismatch; low version = 1, high version = 1/);
        // No version: rpcinfo asks version 0, reads low and high from PROG_MISMATCH, then pings each.
        const all = await ping("536871065");
        assert.match(all.out, /program 536871065 version 1 ready and waiting/);
      });
    });
  }
});
