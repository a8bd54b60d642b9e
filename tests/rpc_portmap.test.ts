// The portmapper: our PortmapServer's procedures, registration of RPC servers with it, and with a real rpcbind that
// the test starts and stops; rpcinfo and libtirpc's clnt_create find our servers through both. The tests that bind
// port 111 are all in this file, and run one after the other: only one process can own the port.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import {
  ACCEPT_STAT,
  AsyncRpcTCPServer,
  AsyncRpcUDPServer,
  AUTH_STAT,
  IPPROTO,
  isLocalCaller,
  pmapDump,
  pmapGetPort,
  pmapSet,
  pmapUnset,
  Portmap,
  portmapProgram,
  PortmapServer,
  PortmapTable,
  type RpcCallContext,
  RpcClient,
  RpcError,
  RpcRegistrationError,
  xdr,
} from "../mod.ts";
import { CalcDatagram, CalcStream } from "../examples/rpc_calc_handlers.ts";
import { serving, sleep, within } from "./_helpers.ts";
import { buildCalcClient, RPC_TOOLS_MISSING, run } from "./_rpcgen.ts";

const CALC = 0x2000_0099;

describe("PortmapServer (on a free port)", () => {
  test("NULL, SET, UNSET, GETPORT and DUMP; SET of a mapping held is FALSE; it lists itself", async () => {
    await using portmapper = await new PortmapServer({ port: 0 }).listen();
    const serving = portmapper.serveForever();
    const where = { port: portmapper.serverAddress[1] };
    try {
      const self = { prog: 100_000, vers: 2, port: where.port };
      assert.deepEqual(await pmapDump(where), [{ ...self, prot: IPPROTO.TCP }, { ...self, prot: IPPROTO.UDP }]);
      assert.equal(await pmapSet({ prog: CALC, vers: 1, prot: IPPROTO.TCP, port: 4000 }, where), true);
      assert.equal(await pmapSet({ prog: CALC, vers: 1, prot: IPPROTO.TCP, port: 4001 }, where), false);
      assert.equal(await pmapSet({ prog: CALC, vers: 1, prot: IPPROTO.UDP, port: 4002 }, where), true);
      assert.equal(await pmapSet({ prog: CALC, vers: 1, prot: 99, port: 4002 }, where), false);
      assert.equal(await pmapGetPort(CALC, 1, IPPROTO.TCP, where), 4000);
      assert.equal(await pmapGetPort(CALC, 1, IPPROTO.UDP, where), 4002);
      // Another version: the port of one that is registered (the server answers PROG_MISMATCH), as rpcbind does.
      assert.equal(await pmapGetPort(CALC, 5, IPPROTO.TCP, where), 4000);
      assert.equal(await pmapGetPort(CALC + 1, 1, IPPROTO.TCP, where), 0);
      assert.equal((await pmapDump(where)).length, 4);
      assert.equal(await pmapUnset(CALC, 1, where), true);
      assert.equal(await pmapUnset(CALC, 1, where), false);
      assert.equal(await pmapGetPort(CALC, 1, IPPROTO.TCP, where), 0);
      // A long DUMP (an optional-data chain of 1000 entries) over TCP.
      for (let vers = 1; vers <= 1000; vers++) portmapper.table.set({ prog: 0x3000_0000, vers, prot: 6, port: vers });
      await using client = await RpcClient.connect({ transport: "tcp", host: "127.0.0.1", port: where.port });
      assert.equal((await client.stub(Portmap, 2).DUMP(undefined)).length, 1002);
    } finally {
      await portmapper.shutdown();
      await serving;
    }
  });

  test("versions 3 and 4 get PROG_MISMATCH (2, 2); CALLIT is not offered", async () => {
    await using portmapper = await new PortmapServer({ port: 0 }).listen();
    const loop = portmapper.serveForever();
    try {
      for (const transport of ["udp", "tcp"] as const) {
        await using client = await RpcClient.connect({
          transport,
          host: "127.0.0.1",
          port: portmapper.serverAddress[1],
        });
        for (const vers of [3, 4]) {
          await assert.rejects(client.ping(100_000, vers), (error: unknown) => {
            assert.ok(error instanceof RpcError);
            assert.deepEqual([error.stat, error.low, error.high], [ACCEPT_STAT.PROG_MISMATCH, 2, 2]);
            return true;
          });
        }
        const callit = xdr.struct({ prog: xdr.uint(), vers: xdr.uint(), proc: xdr.uint(), args: xdr.opaque() });
        await assert.rejects(
          client.call(100_000, 2, 5, callit, { prog: CALC, vers: 1, proc: 0, args: new Uint8Array(0) }, xdr.voidType()),
          /procedure unavailable/,
        );
      }
    } finally {
      await portmapper.shutdown();
      await loop;
    }
  });

  test("from another machine: SET and UNSET answer FALSE, DUMP over UDP is refused (an amplifier)", async () => {
    const table = new PortmapTable();
    const procedures = portmapProgram(table).versions.get(2)!;
    const from = (clientAddress: unknown, transport: string) =>
      ({ clientAddress, transport, xid: 1, program: 100_000, version: 2, procedure: 0 }) as unknown as RpcCallContext;
    const mapping = { prog: CALC, vers: 1, prot: IPPROTO.TCP, port: 4000 };
    assert.equal(await procedures.get(1)!.fn(mapping, from(["192.168.1.5", 700], "udp")), false);
    assert.equal(table.dump().length, 0);
    assert.equal(await procedures.get(1)!.fn(mapping, from(["127.0.0.1", 700], "udp")), true);
    assert.equal(await procedures.get(2)!.fn(mapping, from(["10.0.0.1", 700], "tcp")), false);
    assert.equal(table.dump().length, 1);
    assert.throws(() => procedures.get(4)!.fn(undefined, from(["10.0.0.1", 700], "udp")), (error: unknown) => {
      assert.ok(error instanceof RpcError);
      assert.deepEqual([error.kind, error.stat], ["auth", AUTH_STAT.AUTH_TOOWEAK]);
      return true;
    });
    assert.equal((await procedures.get(4)!.fn(undefined, from(["10.0.0.1", 700], "tcp")) as unknown[]).length, 1);
  });

  test("SET and UNSET only from this machine", () => {
    assert.equal(isLocalCaller(["127.0.0.1", 700]), true);
    assert.equal(isLocalCaller(["127.8.0.1", 700]), true);
    assert.equal(isLocalCaller(["::1", 700]), true);
    assert.equal(isLocalCaller(["::ffff:127.0.0.1", 700]), true);
    assert.equal(isLocalCaller("/run/x.sock"), true);
    assert.equal(isLocalCaller(["192.168.1.5", 700]), false);
    assert.equal(isLocalCaller(["::ffff:10.0.0.1", 700]), false);
    assert.equal(isLocalCaller(null), false);
  });

  test("servers register at listen and unregister at close; a mapping held already is a clear error", async () => {
    await using portmapper = await new PortmapServer({ port: 0 }).listen();
    const loop = portmapper.serveForever();
    const where = { port: portmapper.serverAddress[1] };
    const options = { registerWithPortmapper: true, portmapper: where };
    try {
      const tcp = new AsyncRpcTCPServer(["127.0.0.1", 0], CalcStream, options);
      const udp = new AsyncRpcUDPServer(["127.0.0.1", 0], CalcDatagram, options);
      await serving(tcp, () =>
        serving(udp, async () => {
          assert.equal(await pmapGetPort(CALC, 1, IPPROTO.TCP, where), tcp.serverAddress[1]);
          assert.equal(await pmapGetPort(CALC, 1, IPPROTO.UDP, where), udp.serverAddress[1]);
          const second = new AsyncRpcTCPServer(["127.0.0.1", 0], CalcStream, options);
          await assert.rejects(second.listen(), (error: unknown) => {
            assert.ok(error instanceof RpcRegistrationError);
            assert.match(error.message, /refused program 536871065 version 1 over tcp: it is registered already/);
            return true;
          });
        }));
      assert.equal(await pmapGetPort(CALC, 1, IPPROTO.TCP, where), 0);
      assert.equal(await pmapGetPort(CALC, 1, IPPROTO.UDP, where), 0);
    } finally {
      await portmapper.shutdown();
      await loop;
    }
  });

  test("no portmapper answering: listen fails with RpcRegistrationError", async () => {
    const server = new AsyncRpcUDPServer(["127.0.0.1", 0], CalcDatagram, {
      registerWithPortmapper: true,
      portmapper: { port: 9, timeout: 500 },
    });
    await assert.rejects(
      server.listen(),
      /cannot register program 536871065 version 1: the portmapper at 127\.0\.0\.1:9/,
    );
  });
});

// ---- port 111: a real rpcbind, then our PortmapServer ----

const RPCBIND = "/usr/sbin/rpcbind";
const isRoot = process.getuid?.() === 0;
const port111Skip = RPC_TOOLS_MISSING ||
  (!existsSync(RPCBIND) ? "needs rpcbind (apt-get install rpcbind)" : !isRoot ? "rpcbind -f needs root" : false);

/** True when something answers the portmapper's NULL on 127.0.0.1:111 over UDP. */
async function portmapperAnswers(): Promise<boolean> {
  try {
    await using client = await RpcClient.connect({ transport: "udp", host: "127.0.0.1", port: 111 }, {
      timeout: 300,
      retransmitInterval: 100,
    });
    await client.ping(100_000, 2);
    return true;
  } catch {
    return false;
  }
}

describe("port 111: real rpcbind and our PortmapServer", { skip: port111Skip }, () => {
  let client = "";
  let cleanup = () => {};
  before(async () => {
    assert.equal(await portmapperAnswers(), false, "a portmapper already runs on 127.0.0.1:111: stop it first");
    ({ client, cleanup } = await buildCalcClient());
  });
  after(() => cleanup());

  /** Serves calc over TCP and UDP, registered; runs `body` with the two ports. */
  async function registeredCalc(body: (tcpPort: number, udpPort: number) => Promise<void>): Promise<void> {
    const options = { registerWithPortmapper: true };
    const tcp = new AsyncRpcTCPServer(["127.0.0.1", 0], CalcStream, options);
    const udp = new AsyncRpcUDPServer(["127.0.0.1", 0], CalcDatagram, options);
    await serving(tcp, () => serving(udp, () => body(tcp.serverAddress[1], udp.serverAddress[1])));
  }

  const rpcinfo = (...args: string[]) => run("/usr/sbin/rpcinfo", args, { timeout: 30_000 });
  const EXPECTED = "NULL: RPC: Success\nADD(2,40) = 42\nADD(2147483647,1) = -2147483648\nECHO = hello\n";

  test("a real rpcbind accepts our registrations; clnt_create and rpcinfo find the servers through it", async () => {
    // Not `-h 127.0.0.1`: Debian's rpcbind 1.2.6 crashes with it. It binds every interface, for this test only.
    let rpcbind: ChildProcess | undefined = spawn(RPCBIND, ["-f"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    rpcbind.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const exited = new Promise<void>((resolve) => rpcbind!.once("exit", () => resolve()));
    try {
      const until = Date.now() + 10_000;
      while (!(await portmapperAnswers())) {
        assert.ok(Date.now() < until, `rpcbind did not start: ${stderr}`);
        await sleep(100);
      }
      await registeredCalc(async (tcpPort, udpPort) => {
        const listed = await rpcinfo("-p", "127.0.0.1");
        assert.match(listed.out, new RegExp(`536871065\\s+1\\s+tcp\\s+${tcpPort}`));
        assert.match(listed.out, new RegExp(`536871065\\s+1\\s+udp\\s+${udpPort}`));
        assert.equal((await run(client, ["127.0.0.1", "0", "tcp"])).out, EXPECTED);
        assert.equal((await run(client, ["127.0.0.1", "0", "udp", "sys"])).out, EXPECTED);
        assert.match((await rpcinfo("-t", "127.0.0.1", "536871065", "1")).out, /version 1 ready and waiting/);
      });
      const after = await rpcinfo("-p", "127.0.0.1");
      assert.doesNotMatch(after.out, /536871065/, "unregistered at close");
    } finally {
      rpcbind.kill("SIGTERM");
      await within(10_000, exited, "rpcbind's exit");
      rpcbind = undefined;
    }
  });

  test("our PortmapServer on 111: rpcinfo -p, plain rpcinfo, -T tcp, and clnt_create work against it", async () => {
    const portmapper = await new PortmapServer().listen();
    const loop = portmapper.serveForever();
    try {
      await registeredCalc(async (tcpPort, udpPort) => {
        const listed = await rpcinfo("-p", "127.0.0.1");
        assert.match(listed.out, /100000\s+2\s+tcp\s+111\s+portmapper/);
        assert.match(listed.out, new RegExp(`536871065\\s+1\\s+tcp\\s+${tcpPort}`));
        assert.match(listed.out, new RegExp(`536871065\\s+1\\s+udp\\s+${udpPort}`));
        // rpcinfo and libtirpc try rpcbind v4 and v3 first; PROG_MISMATCH (2, 2) sends them to v2.
        const plain = await rpcinfo("127.0.0.1");
        assert.match(plain.out, /536871065\s+1\s+tcp/);
        assert.match((await rpcinfo("-T", "tcp", "127.0.0.1", "536871065", "1")).out, /version 1 ready and waiting/);
        assert.match((await rpcinfo("-u", "127.0.0.1", "536871065", "1")).out, /version 1 ready and waiting/);
        assert.equal((await run(client, ["127.0.0.1", "0", "tcp", "sys"])).out, EXPECTED);
        assert.equal((await run(client, ["127.0.0.1", "0", "udp"])).out, EXPECTED);
      });
      assert.doesNotMatch((await rpcinfo("-p", "127.0.0.1")).out, /536871065/, "unregistered at close");
    } finally {
      await portmapper.shutdown();
      await loop;
      await portmapper.serverClose();
    }
  });
});
